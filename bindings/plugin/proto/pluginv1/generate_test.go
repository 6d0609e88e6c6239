package pluginv1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerated regenerates the Go code from plugin.proto with the pinned
// generators (gen.sh) in a scratch directory and fails if the committed
// files differ: edit plugin.proto, then run go generate. It is skipped
// where protoc is not installed (`make deps` installs it).
func TestGenerated(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed (Debian's protobuf-compiler; make deps installs it)")
	}
	if testing.Short() {
		t.Skip("builds the generators; skipped in -short")
	}
	dir := t.TempDir()
	for _, f := range []string{"plugin.proto", "gen.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", filepath.Join(dir, "gen.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	for _, f := range []string{"plugin.pb.go", "plugin_grpc.pb.go", "plugin_pb2.py"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./bindings/plugin/proto/...` and commit the result", f)
		}
	}
}
