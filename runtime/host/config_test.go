package host_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/netrun/netrun/internal/testpeer"
	"github.com/netrun/netrun/runtime/host"
	"github.com/netrun/netrun/runtime/isolation"
)

func TestMain(m *testing.M) { testpeer.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite the expected part of testdata/config/*.configtest")

// separator divides a golden case's TOML input from its expected result,
// as in Caddy's caddyfile_adapt tests.
const separator = "\n----------\n"

// TestConfigGolden loads each testdata/config/*.configtest's TOML from a
// file in a temporary directory and compares the effective configuration,
// or the error, with the part after the separator. The temporary
// directory is written as $DIR. Run with -update to rewrite the expected
// parts.
func TestConfigGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "config", "*.configtest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/config/*.configtest")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".configtest")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(data), separator)
			if !ok && !*update {
				t.Fatalf("%s has no %q separator", file, strings.TrimSpace(separator))
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "netrun.toml")
			if err := os.WriteFile(path, []byte(input), 0o644); err != nil {
				t.Fatal(err)
			}
			var got string
			if cfg, err := host.Load(path); err != nil {
				got = "error:\n" + err.Error() + "\n"
			} else {
				got = render(cfg)
			}
			got = strings.ReplaceAll(got, dir, "$DIR")
			if *update {
				if err := os.WriteFile(file, []byte(input+separator+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("%s: got\n%s\nwant\n%s", file, got, want)
			}
		})
	}
}

// render writes the effective configuration as the golden files hold it.
func render(c *host.Config) string {
	var b strings.Builder
	h := c.Host
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("host\n")
	w("  drain_timeout: %s\n", h.DrainTimeout)
	w("  workers: %s\n", workers(h.Workers))
	w("  admin: %s\n", or(h.Admin, "off"))
	w("  scripts_dir: %s\n", or(h.ScriptsDir, "(each script's directory)"))
	w("  cpu_budget: %s\n", h.CPUBudget)
	for _, s := range c.Scripts {
		w("script %s\n", s.Path)
		w("  workers: %s\n", workers(s.Workers))
		w("  allow: %s\n", caps(s.Caps))
	}
	for _, p := range c.Plugins {
		w("plugin %s\n", p.Name)
		w("  command: %s\n", or(strings.Join(quoteArgs(p.Command), " "), "(first-party)"))
		w("  allow: %s\n", caps(p.Caps))
	}
	return b.String()
}

func workers(n int) string {
	if n == 0 {
		return "0 (one per CPU)"
	}
	return strconv.Itoa(n)
}

func caps(c isolation.Capabilities) string {
	if c == 0 {
		return "none"
	}
	return strings.Join(c.Names(), ", ")
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// quoteArgs quotes the arguments that hold a space.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsAny(a, " \t\"") {
			out[i] = strconv.Quote(a)
		}
	}
	return out
}

func TestParse(t *testing.T) {
	t.Parallel()
	const in = `
[host]
scripts_dir = "lib"

[[script]]
path = "echo.lua"
allow = ["loopback"]

[[script]]
path = "/srv/netrun/chat"

[[plugin]]
name = "p"
command = ["./bin/p", "./arg"]
`
	for _, tt := range []struct {
		dir                  string
		scriptsDir, echo, p0 string
	}{
		{"/etc/netrun", "/etc/netrun/lib", "/etc/netrun/echo.lua", "/etc/netrun/bin/p"},
		{"", "lib", "echo.lua", "./bin/p"},
		{"conf", "conf/lib", "conf/echo.lua", "conf/bin/p"},
	} {
		cfg, err := host.Parse([]byte(in), tt.dir)
		if err != nil {
			t.Fatalf("Parse(dir %q): %v", tt.dir, err)
		}
		if cfg.Host.ScriptsDir != tt.scriptsDir || cfg.Scripts[0].Path != tt.echo ||
			cfg.Scripts[1].Path != "/srv/netrun/chat" || cfg.Plugins[0].Command[0] != tt.p0 ||
			cfg.Plugins[0].Command[1] != "./arg" {
			t.Errorf("Parse(dir %q) resolved scripts_dir %q, paths %q %q, command %q",
				tt.dir, cfg.Host.ScriptsDir, cfg.Scripts[0].Path, cfg.Scripts[1].Path, cfg.Plugins[0].Command)
		}
		if cfg.Scripts[0].Caps != isolation.Capabilities(isolation.Loopback) || cfg.Scripts[1].Caps != 0 {
			t.Errorf("Caps = %v, %v", cfg.Scripts[0].Caps, cfg.Scripts[1].Caps)
		}
	}
}

// TestParseErrorLocation: without a file, errors give the line alone.
func TestParseErrorLocation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"[host]\nworkers = 2\nadmin = \"10.0.0.1:80\"\n",
			`line 3: host: admin: "10.0.0.1:80" is not a loopback address`},
		{"[host]\n\nbogus = 1\n", `line 3: unknown key "host.bogus"`},
		{"[host]\ncpu_budget = \"fast\"\n", `line 2: host.cpu_budget: invalid duration "fast"`},
		{"[host]\nworkers = \"four\"\n", "line 2: host.workers: incompatible types"},
	} {
		_, err := host.Parse([]byte(tt.in), "/x")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error starting %q", tt.in, err, tt.want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "none.toml")
	_, err := host.Load(path)
	if err == nil || !os.IsNotExist(unwrapAll(err)) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// TestLoadRelative: a config named by a relative path still resolves
// scripts to absolute paths.
func TestLoadRelative(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "netrun.toml"), []byte("[[script]]\npath = \"a.lua\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg, err := host.Load("netrun.toml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "a.lua"); cfg.Scripts[0].Path != want {
		t.Errorf("path = %q, want %q", cfg.Scripts[0].Path, want)
	}
}

func TestValidateBuilt(t *testing.T) {
	t.Parallel()
	c := &host.Config{Host: host.HostConfig{CPUBudget: host.Duration{Duration: time.Second}}}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate(minimal) = %v", err)
	}
	c.Host.CPUBudget.Duration = 0
	c.Plugins = []host.PluginConfig{{Name: "a"}, {Name: "a", Allow: []string{"x"}}}
	err := c.Validate()
	for _, want := range []string{
		"host: cpu_budget: must be positive, got 0s",
		`plugin[1] "a": name: "a" is already the name of plugin[0]`,
		`plugin[1] "a": allow: unknown capability "x"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	var v struct {
		D host.Duration `toml:"d"`
	}
	if _, err := toml.Decode(`d = "1m30s"`, &v); err != nil || v.D.Duration != 90*time.Second {
		t.Fatalf("decode 1m30s = %v, %v", v.D, err)
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(v); err != nil || strings.TrimSpace(b.String()) != `d = "1m30s"` {
		t.Errorf("encode = %q, %v", b.String(), err)
	}
	for _, bad := range []string{`d = "soon"`, `d = 30`, `d = ""`} {
		if _, err := toml.Decode(bad, &v); err == nil || !strings.Contains(err.Error(), "invalid duration") {
			t.Errorf("decode %s: err = %v, want invalid duration", bad, err)
		}
	}
}
