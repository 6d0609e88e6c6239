// Package netrun_test holds the checks that apply to the whole repository:
// every package has a doc comment, and runtime/ depends on nothing that
// belongs to a binding.
package netrun_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs fails for a package without a package doc comment, as
// Tailscale's pkgdoc_test does.
func TestPackageDocs(t *testing.T) {
	dirs := map[string]bool{}
	filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if len(dirs) == 0 {
		t.Fatal("found no Go package")
	}
	for dir := range dirs {
		pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range pkgs {
			documented := false
			for _, f := range p.Files {
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					documented = true
				}
			}
			if !documented {
				t.Errorf("package %s in %s has no package doc comment", name, dir)
			}
		}
	}
}

// TestRuntimeDeps keeps runtime/ free of the bindings' dependencies: it is
// the plain-Go layer that both bindings project.
func TestRuntimeDeps(t *testing.T) {
	banned := map[string]string{
		"github.com/yuin/gopher-lua":                 "Lua belongs to bindings/lua",
		"google.golang.org/grpc":                     "gRPC belongs to bindings/plugin",
		"github.com/hashicorp/go-plugin":             "plugins belong to bindings/plugin",
		"testing":                                    "test helpers must not reach production code",
		"github.com/netrun/netrun/internal/testpeer": "testpeer is for tests only",
	}
	out, err := exec.Command("go", "list", "-deps", "./runtime/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for bad, why := range banned {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("runtime/ depends on %s: %s", dep, why)
			}
		}
	}
}
