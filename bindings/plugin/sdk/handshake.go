package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
)

// The go-plugin handshake values. A breaking change to the protocol bumps
// ProtocolVersion together with the proto package (netrun.plugin.v2).
const (
	// ProtocolVersion is the go-plugin app protocol version, and
	// Hello.protocol_version.
	ProtocolVersion = 1
	// MagicCookieKey and MagicCookieValue tell a plugin binary that netrun
	// started it (go-plugin refuses to serve otherwise).
	MagicCookieKey   = "NETRUN_PLUGIN"
	MagicCookieValue = "7c4f0e2a-netrun-plugin"
	// PluginName is the name the plugin is served and dispensed under.
	PluginName = "netrun"
)

// Handshake returns the go-plugin handshake shared by the host and every
// plugin.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// GRPCPlugin is the go-plugin glue for both sides: in a plugin, Serve
// registers Impl as the Plugin service; in the host, GRPCClient returns a
// [Conn]. It speaks gRPC only.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin, on the plugin's side; nil in the host.
	Impl Plugin
	// Options configures the session, on the plugin's side.
	Options *Options
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the Plugin service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServer(s, &server{impl: p.Impl, opts: p.Options})
	return nil
}

// GRPCClient returns a *Conn for the host.
func (p *GRPCPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Conn{Client: pluginv1.NewPluginClient(c), Exited: ctx}, nil
}

// Conn is what the host dispenses from a started plugin.
type Conn struct {
	// Client calls the plugin's service.
	Client pluginv1.PluginClient
	// Exited ends when the plugin process exits.
	Exited context.Context
}
