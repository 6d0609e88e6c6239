package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/netrun/netrun/runtime/isolation"
)

// Defaults for the [host] keys a configuration leaves out.
const (
	// DefaultDrainTimeout is how long an old script version's connections
	// may drain after a reload when drain_timeout is not set.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultCPUBudget is how long one handler may run when cpu_budget is
	// not set.
	DefaultCPUBudget = time.Second
)

// Config is the host configuration, read from TOML by [Load] or [Parse]:
// the host's own settings, and the scripts and plugins it runs with the
// capabilities each is granted.
//
//	[host]
//	drain_timeout = "30s"
//	admin = "127.0.0.1:9090"
//
//	[[script]]
//	path = "scripts/echo.lua"
//	allow = ["loopback", "privateNetworkClientServer"]
//
//	[[plugin]]
//	name = "metrics"
//	command = ["./plugins/metrics", "--verbose"]
//	allow = ["internetClient"]
//
// A Config built in Go rather than loaded gets no defaults and no path
// resolution; call Validate before using it.
type Config struct {
	// Host is the [host] table.
	Host HostConfig `toml:"host"`
	// Scripts are the [[script]] tables, in file order.
	Scripts []ScriptConfig `toml:"script"`
	// Plugins are the [[plugin]] tables, in file order.
	Plugins []PluginConfig `toml:"plugin"`
}

// HostConfig is the [host] table: settings for the whole host.
type HostConfig struct {
	// DrainTimeout is how long an old script version's connections may
	// drain after a reload before they are closed. Left out, it is
	// DefaultDrainTimeout (30s); "0s" closes them at once.
	DrainTimeout Duration `toml:"drain_timeout"`
	// Workers is the default number of workers (independent Lua states)
	// per script; 0, the default, means one per CPU (runtime.NumCPU, which
	// the host reads when it starts the script).
	Workers int `toml:"workers"`
	// Admin is the listen address of the admin API and /metrics, host:port
	// with a loopback host (127.0.0.1, ::1 or localhost); "" turns them off.
	Admin string `toml:"admin"`
	// ScriptsDir is the root that require() loads a script's modules from;
	// "" means the directory of each script. Load resolves it against the
	// config file's directory.
	ScriptsDir string `toml:"scripts_dir"`
	// CPUBudget is the longest one handler may run before it is stopped
	// with an error; it must be positive. Left out, it is DefaultCPUBudget
	// (1s).
	CPUBudget Duration `toml:"cpu_budget"`
}

// ScriptConfig is one [[script]] table: a script, or a folder of them,
// and what it may reach.
type ScriptConfig struct {
	// Path is a .lua file or a folder of them. Load resolves it against
	// the config file's directory.
	Path string `toml:"path"`
	// Allow names the capabilities granted, as WinRT manifests name them
	// (see isolation.ParseCapabilityList).
	Allow []string `toml:"allow"`
	// Workers is how many workers run the script; 0 means the host's
	// default, which Load fills in.
	Workers int `toml:"workers"`
	// Caps is Allow parsed; Load sets it.
	Caps isolation.Capabilities `toml:"-"`
}

// PluginConfig is one [[plugin]] table: a plugin process and what it may
// reach.
type PluginConfig struct {
	// Name identifies the plugin; it is its task id, so it must be unique.
	Name string `toml:"name"`
	// Command is the plugin's argv. Empty means a first-party plugin
	// served by the netrun binary itself. A relative program path that
	// contains a slash ("./plugins/x") is resolved against the config
	// file's directory by Load; a bare name ("python3") is looked up in
	// PATH when the plugin starts.
	Command []string `toml:"command"`
	// Args are the arguments of a first-party plugin (Command empty):
	// netrun runs it as `netrun plugin NAME ARGS...`. A plugin with a
	// Command takes its arguments there.
	Args []string `toml:"args"`
	// Allow names the capabilities granted, as for a script.
	Allow []string `toml:"allow"`
	// Lazy, when set, starts the plugin again after it exited or crashed
	// holding sockets it transferred only once one of them has activity
	// (data, a connection, a datagram), rather than after a backoff.
	Lazy bool `toml:"lazy"`
	// Caps is Allow parsed; Load sets it.
	Caps isolation.Capabilities `toml:"-"`
}

// Duration is a time.Duration that TOML writes as a string in
// time.ParseDuration's form: "30s", "1m30s", "250ms".
type Duration struct{ time.Duration }

// UnmarshalText parses a duration such as "30s".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a string such as \"30s\" or \"1m30s\"", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// Load reads the configuration file at path; see [Parse]. Relative paths
// in it are resolved against the file's directory, and every error names
// the file, and the line where it is known.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host config: %w", err)
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return parse(data, dir, path)
}

// Parse reads a configuration from data, as Load reads a file; dir is the
// directory relative paths are resolved against ("" leaves them
// relative). Decoding is strict: a key Config does not know is an error.
// Parse then fills in defaults (drain_timeout, cpu_budget, each script's
// workers), resolves paths, validates the result (see Validate) and sets
// each script's and plugin's Caps. Errors give the line and key where
// they are known; several validation errors are joined, one per line.
func Parse(data []byte, dir string) (*Config, error) {
	return parse(data, dir, "")
}

// parse is Parse, with the file name that errors start with.
func parse(data []byte, dir, file string) (*Config, error) {
	lines := keyLines(data)
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, decodeError(file, err)
	}
	if err := undecoded(file, md.Undecoded(), lines); err != nil {
		return nil, err
	}

	if !md.IsDefined("host", "drain_timeout") {
		c.Host.DrainTimeout.Duration = DefaultDrainTimeout
	}
	if !md.IsDefined("host", "cpu_budget") {
		c.Host.CPUBudget.Duration = DefaultCPUBudget
	}
	c.Host.ScriptsDir = resolve(dir, c.Host.ScriptsDir)
	for i := range c.Scripts {
		s := &c.Scripts[i]
		s.Path = resolve(dir, s.Path)
		if s.Workers == 0 {
			s.Workers = c.Host.Workers
		}
	}
	for i := range c.Plugins {
		p := &c.Plugins[i]
		if len(p.Command) > 0 && strings.Contains(p.Command[0], "/") {
			p.Command[0] = resolve(dir, p.Command[0])
		}
	}

	if err := c.Validate(); err != nil {
		return nil, locate(file, err, lines)
	}
	for i := range c.Scripts {
		c.Scripts[i].Caps, _ = isolation.ParseCapabilityList(c.Scripts[i].Allow)
	}
	for i := range c.Plugins {
		c.Plugins[i].Caps, _ = isolation.ParseCapabilityList(c.Plugins[i].Allow)
	}
	return &c, nil
}

// resolve makes a non-empty relative path p relative to dir, unless dir
// is "".
func resolve(dir, p string) string {
	if p == "" || dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Validate checks what TOML cannot: every script has a path; no workers
// count is negative; drain_timeout is not negative and cpu_budget is
// positive; plugin names are non-empty and unique; every capability name
// is valid; admin, if set, is host:port on a loopback address. Each
// problem is an error naming the table ("script[1]" and its path,
// "plugin[0]" and its name) and the key; they are joined.
func (c *Config) Validate() error {
	var errs []error
	add := func(table, who, key, format string, a ...any) {
		errs = append(errs, &fieldError{table: table, who: who, key: key, msg: fmt.Sprintf(format, a...)})
	}
	h := c.Host
	if h.DrainTimeout.Duration < 0 {
		add("host", "host", "drain_timeout", "must not be negative, got %s", h.DrainTimeout)
	}
	if h.Workers < 0 {
		add("host", "host", "workers", "must not be negative, got %d", h.Workers)
	}
	if h.Admin != "" {
		if err := checkAdmin(h.Admin); err != nil {
			add("host", "host", "admin", "%v", err)
		}
	}
	if h.CPUBudget.Duration <= 0 {
		add("host", "host", "cpu_budget", "must be positive, got %s", h.CPUBudget)
	}
	for i, s := range c.Scripts {
		table := fmt.Sprintf("script[%d]", i)
		who := table
		if s.Path == "" {
			add(table, who, "path", "must not be empty")
		} else {
			who += " " + strconv.Quote(s.Path)
		}
		if s.Workers < 0 {
			add(table, who, "workers", "must not be negative, got %d", s.Workers)
		}
		if _, err := isolation.ParseCapabilityList(s.Allow); err != nil {
			add(table, who, "allow", "%v", err)
		}
	}
	seen := map[string]int{}
	for i, p := range c.Plugins {
		table := fmt.Sprintf("plugin[%d]", i)
		who := table
		if p.Name == "" {
			add(table, who, "name", "must not be empty")
		} else {
			who += " " + strconv.Quote(p.Name)
			if j, dup := seen[p.Name]; dup {
				add(table, who, "name", "%q is already the name of plugin[%d]", p.Name, j)
			} else {
				seen[p.Name] = i
			}
		}
		if len(p.Command) > 0 && p.Command[0] == "" {
			add(table, who, "command", "the program (first element) must not be empty")
		}
		if len(p.Command) > 0 && len(p.Args) > 0 {
			add(table, who, "args", "is for first-party plugins (no command); put the arguments in command")
		}
		if _, err := isolation.ParseCapabilityList(p.Allow); err != nil {
			add(table, who, "allow", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// checkAdmin checks that addr is host:port with a loopback host and a
// numeric port.
func checkAdmin(addr string) error {
	const want = "want host:port with host 127.0.0.1, ::1 or localhost"
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %s", addr, want)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: %s", addr, want)
	}
	return nil
}

// fieldError is one validation problem: key in the table at table (as
// keyLines names it), described to the user as who.
type fieldError struct {
	table, who, key, msg string
}

func (e *fieldError) Error() string { return e.who + ": " + e.key + ": " + e.msg }

// locate prefixes each error joined in err with where it is: the file and
// the line of its key, or of its table, where they are known.
func locate(file string, err error, lines map[string]int) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		line := 0
		var fe *fieldError
		if errors.As(e, &fe) {
			line = lines[fe.table+"."+fe.key]
			if line == 0 {
				line = lines[fe.table]
			}
		}
		out[i] = at(file, line, e)
	}
	return errors.Join(out...)
}

// at prefixes err with "file:line: ", "file: " or "line N: ", as much as
// is known.
func at(file string, line int, err error) error {
	switch {
	case file != "" && line > 0:
		return fmt.Errorf("%s:%d: %w", file, line, err)
	case file != "":
		return fmt.Errorf("%s: %w", file, err)
	case line > 0:
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// decodeError rewrites an error of the TOML decoder as "file:line: key:
// message".
func decodeError(file string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.LastKey != "" {
			msg = pe.LastKey + ": " + msg
		}
		return at(file, pe.Position.Line, errors.New(msg))
	}
	// Type mismatches come as "toml: line N (last key "k"): message".
	s := strings.TrimPrefix(err.Error(), "toml: ")
	if rest, ok := strings.CutPrefix(s, "line "); ok {
		n, after, _ := strings.Cut(rest, " ")
		if line, err := strconv.Atoi(n); err == nil {
			if k, msg, ok := strings.Cut(after, "): "); ok && strings.HasPrefix(k, "(last key ") {
				if key, err := strconv.Unquote(strings.TrimPrefix(k, "(last key ")); err == nil {
					return at(file, line, errors.New(key+": "+msg))
				}
			}
		}
	}
	return at(file, 0, errors.New(s))
}

// undecoded reports the keys the decoder did not use, one error each,
// skipping those inside a table already reported.
func undecoded(file string, keys []toml.Key, lines map[string]int) error {
	var errs []error
	var reported []string
	for _, k := range keys {
		name := k.String()
		inside := false
		for _, r := range reported {
			inside = inside || strings.HasPrefix(name, r+".")
		}
		if inside {
			continue
		}
		reported = append(reported, name)
		msg := fmt.Sprintf("unknown key %q", name)
		if valid := validKeys(k[:len(k)-1]); valid != "" {
			msg += "; valid keys here: " + valid
		}
		errs = append(errs, at(file, lines[name], errors.New(msg)))
	}
	return errors.Join(errs...)
}

// validKeys lists the keys the table at path (nil for the top level)
// accepts, or "" if path is not a table Config has.
func validKeys(path []string) string {
	t := reflect.TypeFor[Config]()
	for _, name := range path {
		f, ok := fieldByKey(t, name)
		if !ok {
			return ""
		}
		t = f.Type
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[Duration]() {
			return ""
		}
	}
	var keys []string
	for f := range t.Fields() {
		if k := f.Tag.Get("toml"); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, ", ")
}

// fieldByKey returns the field of struct type t whose toml tag is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if f.Tag.Get("toml") == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keyLines maps the tables and keys that a TOML text sets to the line
// (from 1) where each first appears: "host", "host.workers", "script[1]",
// "script[1].allow", and, for the decoder's keys that carry no array
// index, "script" and "script.allow". It reads line by line and knows
// only bare keys and one-line headers, which is all a netrun config
// needs; it serves only to point errors at a line, so a construct it does
// not follow costs a line number, never a wrong result.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	set := func(key string, n int) {
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
	}
	count := map[string]int{}
	table, bare := "", ""
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		s := strings.TrimSpace(line)
		switch {
		case s == "" || s[0] == '#':
		case strings.HasPrefix(s, "[["):
			name, ok := header(s[2:], "]]")
			if !ok {
				continue
			}
			table, bare = name+"["+strconv.Itoa(count[name])+"]", name
			count[name]++
			set(table, n)
			set(bare, n)
		case s[0] == '[':
			name, ok := header(s[1:], "]")
			if !ok {
				continue
			}
			table, bare = name, name
			set(table, n)
		default:
			k, _, ok := strings.Cut(s, "=")
			k = strings.TrimSpace(k)
			if !ok || !isBareKey(k) {
				continue
			}
			if table == "" {
				set(k, n)
				continue
			}
			set(table+"."+k, n)
			set(bare+"."+k, n)
		}
	}
	return lines
}

// header returns the table name in the rest of a header line, up to end.
func header(rest, end string) (string, bool) {
	name, _, ok := strings.Cut(rest, end)
	name = strings.TrimSpace(name)
	return name, ok && isBareKey(name)
}

// isBareKey reports whether k is a non-empty dotted key of bare parts.
func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
