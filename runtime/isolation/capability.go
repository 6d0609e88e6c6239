package isolation

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Capability is one network capability a guest can be granted.
type Capability uint8

// The capabilities, named as WinRT manifests name them (Loopback is
// netrun's own).
const (
	// InternetClient allows outbound traffic to public addresses.
	InternetClient Capability = 1 << iota
	// InternetClientServer allows outbound and inbound traffic with public
	// addresses; it implies InternetClient.
	InternetClientServer
	// PrivateNetworkClientServer allows traffic both ways with private
	// addresses (see Classify).
	PrivateNetworkClientServer
	// Loopback allows traffic both ways with loopback addresses: netrun's
	// own services and any other on this host.
	Loopback
)

// capabilityCount is how many capabilities there are.
const capabilityCount = 4

// All grants every capability. Use it where no isolation is wanted:
// tests, and `--allow` naming everything.
const All = Capabilities(InternetClient | InternetClientServer | PrivateNetworkClientServer | Loopback)

// String returns the capability's manifest name, such as "internetClient",
// or "Capability(0x10)" for a value that is not a single capability.
func (c Capability) String() string {
	switch c {
	case InternetClient:
		return "internetClient"
	case InternetClientServer:
		return "internetClientServer"
	case PrivateNetworkClientServer:
		return "privateNetworkClientServer"
	case Loopback:
		return "loopback"
	}
	return fmt.Sprintf("Capability(%#x)", uint8(c))
}

// Capabilities is a set of capabilities. It implements sockets.Guard
// through [Capabilities.Check]. The zero value grants nothing. Bits that
// name no capability are ignored.
type Capabilities uint8

// Has reports whether the set holds x. It is false for a value of x that
// is not a single capability.
func (c Capabilities) Has(x Capability) bool {
	return x != 0 && x&(x-1) == 0 && Capabilities(x)&All == Capabilities(x) && c&Capabilities(x) != 0
}

// Names returns the manifest names of the capabilities in the set, in the
// order of the Capability constants. It returns an empty (non-nil) slice
// for the empty set.
func (c Capabilities) Names() []string {
	names := make([]string, 0, capabilityCount)
	for i := range capabilityCount {
		if x := Capability(1 << i); c.Has(x) {
			names = append(names, x.String())
		}
	}
	return names
}

// String returns the set as ParseCapabilities reads it: the names joined
// with commas ("internetClient,loopback"), or "" for the empty set.
func (c Capabilities) String() string {
	return strings.Join(c.Names(), ",")
}

// ParseCapabilities parses a comma-separated list of capability names,
// as `--allow` takes it: "internetClient, loopback". Spaces around each
// name are trimmed; names are case-sensitive, as in a WinRT manifest; a
// name may repeat. An empty or blank list is the empty set. An unknown or
// empty name is an error that names it and lists the valid names.
func ParseCapabilities(list string) (Capabilities, error) {
	if strings.TrimSpace(list) == "" {
		return 0, nil
	}
	return ParseCapabilityList(strings.Split(list, ","))
}

// ParseCapabilityList parses capability names given one per element, as
// in a TOML array, with the rules of ParseCapabilities. A nil or empty
// slice is the empty set.
func ParseCapabilityList(names []string) (Capabilities, error) {
	var c Capabilities
	for _, name := range names {
		x, err := parseCapability(strings.TrimSpace(name))
		if err != nil {
			return 0, err
		}
		c |= Capabilities(x)
	}
	return c, nil
}

// parseCapability returns the capability with the manifest name name.
func parseCapability(name string) (Capability, error) {
	var near string
	for i := range capabilityCount {
		x := Capability(1 << i)
		if s := x.String(); s == name {
			return x, nil
		} else if strings.EqualFold(s, name) {
			near = s
		}
	}
	valid := All.Names()
	switch {
	case name == "":
		return 0, fmt.Errorf("empty capability name; valid names: %s", strings.Join(valid, ", "))
	case near != "":
		return 0, fmt.Errorf("unknown capability %s (names are case-sensitive: did you mean %q?); valid names: %s",
			strconv.Quote(name), near, strings.Join(valid, ", "))
	}
	return 0, errors.New("unknown capability " + strconv.Quote(name) + "; valid names: " + strings.Join(valid, ", "))
}
