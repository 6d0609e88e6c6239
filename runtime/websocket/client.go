package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// state is where a client is in its life: Created → Connecting →
// Connected → Closed. A connect that fails returns it to Created, so that
// it can connect again (the certificate retry flow).
type state uint8

const (
	stateCreated state = iota
	stateConnecting
	stateConnected
	stateClosed
)

// client is what MessageWebSocket and StreamWebSocket share: the
// connect, the request headers, the Closed and
// ServerCustomValidationRequested events, and the connection once made.
type client struct {
	// immutable after init
	env        *sockets.Env
	class      string // "MessageWebSocket" or "StreamWebSocket"
	log        *slog.Logger
	info       WebSocketInformation
	closed     event.Event[*ClosedEventArgs]
	validation event.Event[*ServerCustomValidationRequestedEventArgs]

	mu            sync.Mutex // guards the fields below and the Control's settings
	state         state
	headers       http.Header
	cancelConnect context.CancelFunc // set while connecting
	c             *conn              // set once connected
}

func (cl *client) init(env *sockets.Env, class string) {
	cl.env, cl.class = env, class
	cl.log = slog.Default()
	if env != nil && env.Logger != nil {
		cl.log = env.Logger
	}
	cl.headers = http.Header{}
}

// dialSettings are the options a connect uses, copied when it starts.
type dialSettings struct {
	protocols  []string
	credential *PasswordCredential
	ignorable  []sockets.ChainValidationResult
	clientCert *tls.Certificate
	pong       time.Duration
	sendBuffer uint32
	noDelay    bool
	stream     bool
	partial    bool
	maxSize    uint32
	received   *event.Event[*MessageReceivedEventArgs]
}

func (c *WebSocketControl) snapshotLocked() dialSettings {
	return dialSettings{
		protocols: append([]string(nil), c.protocols...), credential: c.credential,
		ignorable:  append([]sockets.ChainValidationResult(nil), c.ignorable...),
		clientCert: c.clientCert, pong: c.pong, sendBuffer: c.sendBuffer,
		noDelay: true, maxSize: noLimit,
	}
}

// setRequestHeader records a handshake header; only before Connect.
func (cl *client) setRequestHeader(name, value string) error {
	op := cl.class + ".SetRequestHeader"
	canon, err := checkRequestHeader(op, name, value)
	if err != nil {
		return err
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.state != stateCreated {
		return socketerror.IllegalCall(op, "headers must be set before Connect")
	}
	setHeader(cl.headers, canon, value)
	return nil
}

// conn returns the connection for op, or the error for a client that is
// not connected.
func (cl *client) conn(op string) (*conn, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	switch cl.state {
	case stateConnected:
		return cl.c, nil
	case stateClosed:
		return nil, socketerror.Closed(op)
	}
	return nil, socketerror.IllegalCall(op, "the WebSocket is not connected")
}

// connect connects to rawURI with the settings snap returns (called under
// cl.mu when the connect starts).
func (cl *client) connect(ctx context.Context, rawURI string, snap func() dialSettings) error {
	op := cl.class + ".Connect"
	u, err := parseURI(op, rawURI)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	cl.mu.Lock()
	switch cl.state {
	case stateConnecting:
		cl.mu.Unlock()
		return socketerror.IllegalCall(op, "a connect is already in progress")
	case stateConnected:
		cl.mu.Unlock()
		return socketerror.IllegalCall(op, "the WebSocket is already connected")
	case stateClosed:
		cl.mu.Unlock()
		return socketerror.Closed(op)
	}
	cl.state = stateConnecting
	cl.cancelConnect = cancel
	set := snap()
	headers := cl.headers.Clone()
	cl.mu.Unlock()

	c, err := cl.dial(ctx, op, u, set, headers)

	cl.mu.Lock()
	cl.cancelConnect = nil
	if cl.state == stateClosed {
		cl.mu.Unlock()
		if c != nil {
			c.close(closeNoStatus, "")
		}
		return socketerror.Closed(op)
	}
	if err != nil {
		cl.state = stateCreated
		cl.mu.Unlock()
		return err
	}
	cl.state = stateConnected
	cl.c = c
	cl.mu.Unlock()
	return nil
}

// parseURI checks a ws or wss URI.
func parseURI(op, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, socketerror.InvalidArg(op, "uri", "%q is not a URI: %v", raw, err)
	}
	switch {
	case u.Scheme != "ws" && u.Scheme != "wss":
		return nil, socketerror.InvalidArg(op, "uri", "%q: the scheme must be ws or wss", raw)
	case u.Hostname() == "":
		return nil, socketerror.InvalidArg(op, "uri", "%q has no host", raw)
	case u.User != nil:
		return nil, socketerror.InvalidArg(op, "uri", "%q: user information is not allowed in a WebSocket URI; use Control().SetServerCredential", raw)
	case u.Fragment != "":
		return nil, socketerror.InvalidArg(op, "uri", "%q: a WebSocket URI has no fragment", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, socketerror.InvalidArg(op, "uri", "%q: port %q is not 1 to 65535", raw, p)
		}
	}
	return u, nil
}

// dial connects the socket, validates the server, runs the handshake and
// starts the connection.
func (cl *client) dial(ctx context.Context, op string, u *url.URL, set dialSettings, headers http.Header) (*conn, error) {
	uri := u.String()
	host, err := networking.NewHostName(u.Hostname())
	if err != nil {
		return nil, socketerror.InvalidArg(op, "uri", "host %q: %v", u.Hostname(), err)
	}
	port, level := u.Port(), sockets.PlainSocket
	if u.Scheme == "wss" {
		level = sockets.Unspecified // TLS 1.2 or 1.3
		if port == "" {
			port = "443"
		}
	} else if port == "" {
		port = "80"
	}

	sock := cl.env.NewStreamSocket()
	ctl := sock.Control()
	if err := errors.Join(ctl.SetNoDelay(set.noDelay), ctl.SetOutboundBufferSizeInBytes(set.sendBuffer),
		ctl.SetIgnorableServerCertificateErrors(set.ignorable), ctl.SetClientCertificate(set.clientCert)); err != nil {
		return nil, err
	}
	cl.info.set(sock, "")
	if err := sock.Connect(ctx, host, port, level); err != nil {
		sock.Close()
		return nil, classify(op, uri, err)
	}
	if level != sockets.PlainSocket && cl.validation.Len() > 0 {
		if err := cl.validate(ctx, op, uri, sock); err != nil {
			sock.Close()
			return nil, err
		}
	}
	nc, err := sock.NetConn()
	if err != nil {
		sock.Close()
		return nil, classify(op, uri, err)
	}
	w := newWire(nc, true)
	hc, tr := handshakeClient(w, level != sockets.PlainSocket)
	defer tr.CloseIdleConnections()
	if cr := set.credential; cr != nil {
		headers.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cr.UserName+":"+cr.Password)))
	}
	ws, resp, err := websocket.Dial(ctx, uri, &websocket.DialOptions{
		HTTPClient:   hc,
		HTTPHeader:   headers,
		Subprotocols: set.protocols,
	})
	if err != nil {
		sock.Close()
		return nil, handshakeError(ctx, op, uri, resp, err)
	}
	cl.info.set(sock, ws.Subprotocol())
	return newConn(ws, w, sock, connConfig{
		class: cl.class, peer: uri, stream: set.stream, partial: set.partial,
		maxSize: set.maxSize, pongInterval: set.pong,
		received: set.received, closed: &cl.closed, log: cl.log.With("websocket", uri),
	}), nil
}

// validate raises ServerCustomValidationRequested and waits for its
// deferrals.
func (cl *client) validate(ctx context.Context, op, uri string, sock *sockets.StreamSocket) error {
	info := sock.Information()
	args := &ServerCustomValidationRequestedEventArgs{
		leaf: info.ServerCertificate(), intermediates: info.ServerIntermediateCertificates(),
		errors: info.ServerCertificateErrors(), severity: info.ServerCertificateErrorSeverity(),
	}
	cl.validation.Raise(args)
	if err := args.wait(ctx); err != nil {
		return classify(op, uri, socketerror.New(op, uri, err))
	}
	if args.isRejected() {
		return wrapError(op, uri, CertificateIsInvalid, socketerror.WithStatus(op, uri, socketerror.CertificateIsInvalid,
			errors.New("a ServerCustomValidationRequested handler rejected the server certificate")))
	}
	return nil
}

// handshakeClient returns an HTTP client whose only connection is conn,
// for coder/websocket's Dial: the socket is already connected (and its TLS
// handshake done), so the transport's dial hands over conn instead of
// dialling. Redirects are not followed and HTTP/2 is off.
func handshakeClient(conn net.Conn, useTLS bool) (*http.Client, *http.Transport) {
	var used atomic.Bool
	dial := func(context.Context, string, string) (net.Conn, error) {
		if used.Swap(true) {
			return nil, errors.New("websocket: the handshake's connection was already used")
		}
		return conn, nil
	}
	tr := &http.Transport{
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if useTLS {
		tr.DialTLSContext = dial
	} else {
		tr.DialContext = dial
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, tr
}

// handshakeError classifies a failed client handshake.
func handshakeError(ctx context.Context, op, uri string, resp *http.Response, err error) error {
	switch {
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		msg := "the server refused the WebSocket handshake: " + resp.Status
		if line := firstLine(resp.Body); line != "" {
			msg += ": " + line
		}
		return httpError(op, uri, resp.StatusCode, msg)
	case resp != nil:
		return protocolError(op, uri, err)
	case ctx.Err() == context.DeadlineExceeded:
		return wrapError(op, uri, Timeout, socketerror.WithStatus(op, uri, socketerror.ConnectionTimedOut, err))
	case ctx.Err() != nil:
		return wrapError(op, uri, OperationCanceled, socketerror.WithStatus(op, uri, socketerror.OperationAborted, err))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return abortedError(op, uri, fmt.Errorf("the server closed the connection during the handshake: %w", err))
	case isNetworkError(err):
		return classify(op, uri, err)
	}
	return protocolError(op, uri, err)
}

// firstLine returns the first line of a response body, at most 200 bytes.
func firstLine(body io.Reader) string {
	if body == nil {
		return ""
	}
	line, _ := bufio.NewReader(io.LimitReader(body, 200)).ReadString('\n')
	return strings.TrimSpace(line)
}

// close closes the client: a connect in progress is abandoned, a
// connection runs the closing handshake.
func (cl *client) close(code uint16, reason string) {
	cl.mu.Lock()
	if cl.state == stateClosed {
		cl.mu.Unlock()
		return
	}
	cl.state = stateClosed
	c, cancel := cl.c, cl.cancelConnect
	cl.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if c != nil {
		c.close(code, reason)
	}
}
