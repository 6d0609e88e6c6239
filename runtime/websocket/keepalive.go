package websocket

import (
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// SendKeepAlive sends an unsolicited pong with an empty payload: RFC 6455's
// unidirectional heartbeat (section 5.5.3), which a peer does not answer.
// It is what a ControlChannelTrigger (runtime/trigger) sends on each
// keep-alive, as WinRT's WebSocketKeepAlive task does. A frame being sent
// is never split: the pong goes out at the end of it. It fails if the
// WebSocket is not connected or is closed.
func (m *MessageWebSocket) SendKeepAlive() error {
	return m.cl.sendKeepAlive(m.cl.class + ".SendKeepAlive")
}

// SendKeepAlive sends an unsolicited pong; see
// [MessageWebSocket.SendKeepAlive].
func (s *StreamWebSocket) SendKeepAlive() error {
	return s.cl.sendKeepAlive(s.cl.class + ".SendKeepAlive")
}

// Socket returns the StreamSocket the WebSocket runs over, once connected,
// for observers such as a ControlChannelTrigger that watch it for incoming
// data and set its keep-alive options; nil before. It must not be read
// from or written to: its bytes are the WebSocket's.
func (m *MessageWebSocket) Socket() *sockets.StreamSocket { return m.cl.info.socket() }

// Socket returns the StreamSocket the WebSocket runs over; see
// [MessageWebSocket.Socket].
func (s *StreamWebSocket) Socket() *sockets.StreamSocket { return s.cl.info.socket() }

func (cl *client) sendKeepAlive(op string) error {
	c, err := cl.conn(op)
	if err != nil {
		return err
	}
	if c.closing() {
		return socketerror.Closed(op)
	}
	if err := c.wire.pong(); err != nil {
		return abortedError(op, c.peer, err)
	}
	return nil
}
