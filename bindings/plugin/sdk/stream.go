package sdk

import (
	"context"
	"crypto/tls"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/netrun/netrun/bindings/plugin/proto/pluginv1"
	"github.com/netrun/netrun/runtime/networking"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// StreamSocket is the runtime's sockets.StreamSocket (WinRT's
// StreamSocket) as a plugin uses it: a TCP connection that lives in the
// host.
//
// Make one with [Host.NewStreamSocket], set its Control, then Connect; or
// receive a connected one from a [StreamSocketListener]. All methods are
// safe for concurrent use; reads are served one at a time in the order
// issued, and so are writes. The owner must Close it.
type StreamSocket struct {
	// immutable after construction
	h      *Host
	ctl    StreamSocketControl
	input  InputStream
	output OutputStream

	mu     sync.Mutex // guards the fields below
	id     uint64     // 0 until connected
	info   *pluginv1.SocketInfo
	state  uint8 // created, connecting, connected, closed
	closed bool

	consumed    atomic.Uint64 // bytes returned by reads so far
	quiet       atomic.Int64  // bytes of quiet writes not known to be done
	transferred atomic.Bool

	// Reads are served from a read-ahead buffer: once the plugin has read,
	// one continuous StreamRead stays in flight at the host, which reads
	// and sends what arrives while less than maxReadAhead bytes wait
	// unacknowledged, so data waits in the plugin and no read command
	// crosses the stream per message. Bytes read ahead are acknowledged
	// only when a Read returns them (by the consumed count of the next
	// command, or an Ack), so the host gives them again to the next
	// instance if this one crashes with them unread.
	readTurn chan struct{} // capacity 1: held by the Read being served
	rd       struct {
		mu       sync.Mutex
		buf      []byte
		eof      bool
		err      error
		inflight bool
		acked    uint64        // consumed as last sent to the host
		wake     chan struct{} // capacity 1: the state changed
		handing  bool          // TransferToBroker stops the read-ahead
	}
	taskID string // EnableTransferOwnership's; guarded by mu
}

// Read-ahead sizes: each read asks for up to readAheadSize bytes, and the
// host stops while maxReadAhead bytes wait unacknowledged.
const (
	readAheadSize = 64 << 10
	maxReadAhead  = 256 << 10
)

const (
	stCreated uint8 = iota
	stConnecting
	stConnected
)

// StreamSocketControl is the runtime's sockets.StreamSocketControl as the
// protocol carries it: the options travel with Connect, so set them
// before it. The host applies them with the runtime's setters, whose
// errors (naming the property) Connect returns.
type StreamSocketControl struct {
	s *StreamSocket // nil for a listener's

	mu            sync.Mutex // guards the fields below
	noDelay       *bool
	keepAlive     *bool
	minProtection *sockets.SocketProtectionLevel
	ignorable     []sockets.ChainValidationResult
	opts          streamOptions
	clientCert    *tls.Certificate
	clientPEM     [2][]byte // clientCert as PEM: the chain, the key
}

// streamOptions are the socket options a stream socket and a listener
// share, as the protocol carries them.
type streamOptions struct {
	sendBuffer *uint32
	hopLimit   *uint32
	qos        *int32
	serialize  *bool
}

func (o *streamOptions) fill(p *pluginv1.StreamControl) {
	p.OutboundBufferSizeInBytes, p.OutboundUnicastHopLimit, p.QualityOfService, p.SerializeConnectionAttempts =
		o.sendBuffer, o.hopLimit, o.qos, o.serialize
}

func (o *streamOptions) empty() bool {
	return o.sendBuffer == nil && o.hopLimit == nil && o.qos == nil && o.serialize == nil
}

// checkHopLimit and checkQoS check values as the runtime's setters do.
func checkHopLimit(class string, v uint8) error {
	if v == 0 {
		return socketerror.InvalidArg(class+".OutboundUnicastHopLimit", "value", "must be 1 to 255")
	}
	return nil
}

func checkQoS(class string, v sockets.SocketQualityOfService) error {
	if v != sockets.Normal && v != sockets.LowLatency {
		return socketerror.InvalidArg(class+".QualityOfService", "value", "%s is not a SocketQualityOfService", v)
	}
	return nil
}

// SetOutboundBufferSizeInBytes sets the send buffer size (SO_SNDBUF; 0
// keeps the system's). It fails once connected.
func (c *StreamSocketControl) SetOutboundBufferSizeInBytes(v uint32) error {
	return c.beforeConnect("OutboundBufferSizeInBytes", func() { c.opts.sendBuffer = &v })
}

// SetOutboundUnicastHopLimit sets the TTL or hop limit of outgoing
// packets (default 128); 0 is E_INVALIDARG. It fails once connected.
func (c *StreamSocketControl) SetOutboundUnicastHopLimit(v uint8) error {
	if err := checkHopLimit("StreamSocketControl", v); err != nil {
		return err
	}
	w := uint32(v)
	return c.beforeConnect("OutboundUnicastHopLimit", func() { c.opts.hopLimit = &w })
}

// SetQualityOfService sets the traffic class (Normal or LowLatency). It
// fails once connected.
func (c *StreamSocketControl) SetQualityOfService(v sockets.SocketQualityOfService) error {
	if err := checkQoS("StreamSocketControl", v); err != nil {
		return err
	}
	w := int32(v)
	return c.beforeConnect("QualityOfService", func() { c.opts.qos = &w })
}

// SetSerializeConnectionAttempts makes Connect try one address at a time.
// It fails once connected.
func (c *StreamSocketControl) SetSerializeConnectionAttempts(v bool) error {
	return c.beforeConnect("SerializeConnectionAttempts", func() { c.opts.serialize = &v })
}

// SetNoDelay sets TCP_NODELAY (default true).
func (c *StreamSocketControl) SetNoDelay(v bool) { c.mu.Lock(); c.noDelay = &v; c.mu.Unlock() }

// SetKeepAlive sets SO_KEEPALIVE (default false).
func (c *StreamSocketControl) SetKeepAlive(v bool) { c.mu.Lock(); c.keepAlive = &v; c.mu.Unlock() }

// beforeConnect runs set unless the socket has connected, when it returns
// E_ILLEGAL_METHOD_CALL naming prop, as the runtime does.
func (c *StreamSocketControl) beforeConnect(prop string, set func()) error {
	if c.s != nil {
		c.s.mu.Lock()
		st := c.s.state
		c.s.mu.Unlock()
		if st != stCreated {
			return socketerror.IllegalCall("StreamSocketControl."+prop, "cannot be changed once the socket has connected")
		}
	}
	c.mu.Lock()
	set()
	c.mu.Unlock()
	return nil
}

// MinProtectionLevel returns the lowest protection a TLS connect or
// UpgradeToSsl accepts; the default is Tls10.
func (c *StreamSocketControl) MinProtectionLevel() sockets.SocketProtectionLevel {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.minProtection == nil {
		return sockets.Tls10
	}
	return *c.minProtection
}

// SetMinProtectionLevel sets MinProtectionLevel: Tls10, Tls11, Tls12 or
// Unspecified (TLS 1.2), or an Ssl level. It fails once connected.
func (c *StreamSocketControl) SetMinProtectionLevel(v sockets.SocketProtectionLevel) error {
	switch v {
	case sockets.Tls10, sockets.Tls11, sockets.Tls12, sockets.Unspecified, sockets.Ssl,
		sockets.SslAllowNullEncryption, sockets.Ssl3AllowWeakEncryption:
	default:
		return socketerror.InvalidArg("StreamSocketControl.MinProtectionLevel", "value", "%s is not a TLS level", v)
	}
	return c.beforeConnect("MinProtectionLevel", func() { c.minProtection = &v })
}

// IgnorableServerCertificateErrors returns a copy of the certificate
// errors a TLS connect or UpgradeToSsl tolerates.
func (c *StreamSocketControl) IgnorableServerCertificateErrors() []sockets.ChainValidationResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ignorable)
}

// SetIgnorableServerCertificateErrors replaces the certificate errors a
// TLS connect, or an UpgradeToSsl after it, tolerates. Only ignorable
// results may be listed ([sockets.ChainValidationResult.Ignorable]);
// another is E_INVALIDARG. It fails once connected, so a socket that
// will upgrade sets it before Connect.
func (c *StreamSocketControl) SetIgnorableServerCertificateErrors(v []sockets.ChainValidationResult) error {
	for _, r := range v {
		if !r.Ignorable() {
			return socketerror.InvalidArg("StreamSocketControl.IgnorableServerCertificateErrors", "value", "%s cannot be ignored", r)
		}
	}
	return c.beforeConnect("IgnorableServerCertificateErrors", func() { c.ignorable = slices.Clone(v) })
}

// ClientCertificate returns the certificate offered when a TLS server
// asks for one, or nil.
func (c *StreamSocketControl) ClientCertificate() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientCert
}

// SetClientCertificate sets the certificate (a chain, leaf first, and its
// private key) offered when a TLS server asks for one, at Connect or at a
// later UpgradeToSsl; nil offers none. It travels to the host as PEM with
// the connect, so the key must be one x509.MarshalPKCS8PrivateKey
// accepts (RSA, ECDSA or Ed25519); another is E_INVALIDARG.
func (c *StreamSocketControl) SetClientCertificate(cert *tls.Certificate) error {
	const op = "StreamSocketControl.ClientCertificate"
	var chain, key []byte
	if cert != nil {
		var err error
		if chain, key, err = encodeCertificate(op, cert); err != nil {
			return err
		}
	}
	return c.beforeConnect("ClientCertificate", func() { c.clientCert, c.clientPEM = cert, [2][]byte{chain, key} })
}

func (c *StreamSocketControl) proto() *pluginv1.StreamControl {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := &pluginv1.StreamControl{NoDelay: c.noDelay, KeepAlive: c.keepAlive,
		ClientCertificatePem: c.clientPEM[0], ClientKeyPem: c.clientPEM[1]}
	if c.minProtection != nil {
		v := int32(*c.minProtection)
		p.MinProtectionLevel = &v
	}
	for _, r := range c.ignorable {
		p.IgnorableServerCertificateErrors = append(p.IgnorableServerCertificateErrors, int32(r))
	}
	if p.NoDelay == nil && p.KeepAlive == nil && p.MinProtectionLevel == nil && len(p.IgnorableServerCertificateErrors) == 0 &&
		c.clientCert == nil && c.opts.empty() {
		return nil
	}
	c.opts.fill(p)
	return p
}

// InputStream is the reading side of a StreamSocket.
type InputStream struct{ s *StreamSocket }

// OutputStream is the writing side of a StreamSocket.
type OutputStream struct{ s *StreamSocket }

// NewStreamSocket returns a socket that is not connected yet.
func (h *Host) NewStreamSocket() *StreamSocket {
	s := &StreamSocket{h: h}
	s.ctl.s = s
	s.rd.wake = make(chan struct{}, 1)
	s.readTurn = make(chan struct{}, 1)
	s.input.s = s
	s.output.s = s
	return s
}

// Control returns the socket's options.
func (s *StreamSocket) Control() *StreamSocketControl { return &s.ctl }

// InputStream returns the stream that reads from the connection.
func (s *StreamSocket) InputStream() *InputStream { return &s.input }

// OutputStream returns the stream that writes to the connection.
func (s *StreamSocket) OutputStream() *OutputStream { return &s.output }

// Information returns the socket's addresses.
func (s *StreamSocket) Information() *SocketInformation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return infoFrom(s.info)
}

// ID returns the socket's id in the host (0 before Connect).
func (s *StreamSocket) ID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Connect connects to service on host, as sockets.StreamSocket.Connect
// does (in the host, with the plugin's capabilities).
func (s *StreamSocket) Connect(ctx context.Context, host *networking.HostName, service string, level sockets.SocketProtectionLevel) error {
	const op = "StreamSocket.Connect"
	if host == nil {
		return socketerror.InvalidArg(op, "remoteHostName", "must not be nil")
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return socketerror.Closed(op)
	case s.state == stConnecting:
		s.mu.Unlock()
		return socketerror.IllegalCall(op, "a connect is already in progress")
	case s.state == stConnected:
		s.mu.Unlock()
		return socketerror.IllegalCall(op, "the socket is already connected")
	}
	s.state = stConnecting
	ctl := s.ctl.proto()
	s.mu.Unlock()
	res, err := s.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_StreamConnect{StreamConnect: &pluginv1.StreamConnect{
		Host: host.RawName(), Service: service, ProtectionLevel: int32(level), Control: ctl}}}, nil)
	if err != nil {
		s.mu.Lock()
		s.state = stCreated
		s.info = failedInfo(level, res.GetError())
		s.mu.Unlock()
		return err
	}
	cr := res.GetCreated()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	s.setConnected(cr.Socket, cr.Info)
	if closed { // Close ran during the connect
		s.h.closeID(op, cr.Socket)
		return socketerror.Closed(op)
	}
	return nil
}

// failedInfo is the Information of a socket whose TLS connect or upgrade
// at level failed with e: the certificate errors found, for the retry
// with IgnorableServerCertificateErrors.
func failedInfo(level sockets.SocketProtectionLevel, e *pluginv1.Error) *pluginv1.SocketInfo {
	return &pluginv1.SocketInfo{ProtectionLevel: int32(level), ServerCertificateErrors: e.GetServerCertificateErrors(),
		ServerCertificateErrorSeverity: e.GetServerCertificateErrorSeverity()}
}

// UpgradeToSsl starts TLS on the connected PlainSocket connection
// (STARTTLS), checking the server's certificate against
// validationHostName, as sockets.StreamSocket.UpgradeToSsl does; the
// errors the Control listed before Connect are tolerated. Writes are
// flushed and the read-ahead is stopped first (the plaintext bytes it
// received are still read first); no Read or Write may run
// concurrently. If the handshake fails the connection is closed, and
// Information reports the certificate errors.
func (s *StreamSocket) UpgradeToSsl(ctx context.Context, level sockets.SocketProtectionLevel, validationHostName *networking.HostName) error {
	const op = "StreamSocket.UpgradeToSsl"
	if level == sockets.PlainSocket {
		return socketerror.InvalidArg(op, "protectionLevel", "PlainSocket is not a TLS level")
	}
	if validationHostName == nil {
		return socketerror.InvalidArg(op, "validationHostName", "must not be nil")
	}
	id, err := s.conn(op)
	if err != nil {
		return err
	}
	release, err := s.quiesce(ctx, op, id)
	if err != nil {
		return err
	}
	defer release()
	defer s.resumeReadAhead()
	res, err := s.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_StreamUpgradeToSsl{StreamUpgradeToSsl: &pluginv1.StreamUpgradeToSsl{
		Socket: id, ProtectionLevel: int32(level), ValidationHost: validationHostName.RawName()}}}, nil)
	if err != nil {
		if socketerror.HResultOf(err) != socketerror.EInvalidArg && socketerror.HResultOf(err) != socketerror.EIllegalMethodCall {
			// The host closed the connection, as the runtime does.
			s.mu.Lock()
			s.info = failedInfo(level, res.GetError())
			s.mu.Unlock()
			s.Close()
		}
		return err
	}
	s.mu.Lock()
	s.info = res.GetCreated().GetInfo()
	s.mu.Unlock()
	return nil
}

// quiesce makes the socket's stream still for a command that must find
// no read or write of the plugin's in flight (UpgradeToSsl, a transfer to
// the broker): it flushes the writes, takes the read turn, and stops the
// read-ahead, waiting for its last completion. release gives the read
// turn back; the read-ahead stays stopped.
func (s *StreamSocket) quiesce(ctx context.Context, op string, id uint64) (release func(), err error) {
	if err := s.output.Flush(ctx); err != nil {
		return nil, err
	}
	select {
	case s.readTurn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxErr(ctx, op)
	}
	release = func() { <-s.readTurn }
	if err := s.stopReadAhead(ctx, op, id); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// stopReadAhead ends the read-ahead in flight, if any, and waits for its
// last completion; what it received stays buffered for the next Read.
// The caller holds the read turn, and calls resumeReadAhead after.
func (s *StreamSocket) stopReadAhead(ctx context.Context, op string, id uint64) error {
	s.rd.mu.Lock()
	s.rd.handing = true
	inflight := s.rd.inflight
	s.rd.mu.Unlock()
	if !inflight {
		return nil
	}
	if _, err := s.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_CancelIo{CancelIo: &pluginv1.CancelIO{Socket: id}}}, nil); err != nil {
		s.resumeReadAhead()
		return err
	}
	for {
		s.rd.mu.Lock()
		inflight = s.rd.inflight
		s.rd.mu.Unlock()
		if !inflight {
			return nil
		}
		select {
		case <-s.rd.wake:
		case <-ctx.Done():
			s.resumeReadAhead()
			return ctxErr(ctx, op)
		}
	}
}

// resumeReadAhead lets reads start a read-ahead again, forgetting the
// OperationAborted that stopReadAhead's cancel ended the last one with.
func (s *StreamSocket) resumeReadAhead() {
	s.rd.mu.Lock()
	s.rd.handing = false
	if s.rd.err != nil && socketerror.GetStatus(s.rd.err) == socketerror.OperationAborted {
		s.rd.err = nil
	}
	s.rd.mu.Unlock()
}

// setConnected makes s the connected socket id.
func (s *StreamSocket) setConnected(id uint64, info *pluginv1.SocketInfo) {
	s.mu.Lock()
	s.id, s.info, s.state = id, info, stConnected
	s.mu.Unlock()
	s.h.track(s)
}

// conn returns the socket's id for an I/O operation.
func (s *StreamSocket) conn(op string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, socketerror.Closed(op)
	case s.state != stConnected:
		return 0, socketerror.IllegalCall(op, "the socket is not connected")
	}
	return s.id, nil
}

// Read reads into p, as sockets.InputStream.Read does: with Partial it
// returns once any bytes have arrived, with InputStreamNone it fills p
// unless the stream ends. At end of stream it returns io.EOF (and no
// bytes). Reads are served one at a time. A context that ends returns
// OperationAborted (cancelled) or ConnectionTimedOut (deadline); bytes
// that arrive later are kept for the next Read.
func (in *InputStream) Read(ctx context.Context, p []byte, opts sockets.InputStreamOptions) (int, error) {
	const op = "StreamSocket.InputStream.Read"
	s := in.s
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := s.conn(op); err != nil {
		return 0, err
	}
	select {
	case s.readTurn <- struct{}{}:
	case <-ctx.Done():
		return 0, ctxErr(ctx, op)
	}
	defer func() { <-s.readTurn }()
	n := 0
	for {
		s.rd.mu.Lock()
		if len(s.rd.buf) > 0 {
			m := copy(p[n:], s.rd.buf)
			s.rd.buf = s.rd.buf[m:]
			if len(s.rd.buf) == 0 {
				s.rd.buf = nil
			}
			n += m
			s.consumed.Add(uint64(m))
		}
		switch {
		case n == len(p) || (n > 0 && opts != sockets.InputStreamNone):
			s.readAheadLocked()
			ack := s.ackLocked()
			s.rd.mu.Unlock()
			if ack != nil {
				s.h.s.sendNow(ack)
			}
			return n, nil
		case s.rd.eof:
			s.rd.mu.Unlock()
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		case s.rd.err != nil:
			err := s.rd.err
			s.rd.err = nil
			s.rd.mu.Unlock()
			return n, err
		}
		s.readAheadLocked()
		s.rd.mu.Unlock()
		s.h.s.drain() // the read-ahead must reach the host before we wait
		select {
		case <-s.rd.wake:
		case <-ctx.Done():
			return n, ctxErr(ctx, op)
		}
	}
}

// readAheadLocked sends a StreamRead unless one is in flight, the stream
// has ended or failed, or enough is buffered. s.rd.mu must be held.
func (s *StreamSocket) readAheadLocked() {
	if s.rd.inflight || s.rd.handing || s.rd.eof || s.rd.err != nil || len(s.rd.buf) >= maxReadAhead {
		return
	}
	s.mu.Lock()
	id, closed := s.id, s.closed
	s.mu.Unlock()
	if closed {
		s.rd.err = socketerror.Closed("StreamSocket.InputStream.Read")
		return
	}
	count := min(readAheadSize, int(s.h.s.hello.MaxPayload))
	cmd := &pluginv1.Command{Command: &pluginv1.Command_StreamRead{StreamRead: &pluginv1.StreamRead{
		Socket: id, Count: uint32(count), Options: uint32(sockets.Partial), Consumed: s.consumed.Load(),
		Continuous: true, Window: maxReadAhead}}}
	s.rd.inflight = true
	if !s.h.s.start(cmd, s.readDone) {
		s.rd.inflight = false
		s.rd.err = endedError("StreamSocket.InputStream.Read")
	}
}

// readDone takes a read-ahead's completions, on the receiving goroutine.
func (s *StreamSocket) readDone(c *pluginv1.Completion) {
	s.rd.mu.Lock()
	if !c.More {
		s.rd.inflight = false
	}
	if e := c.GetError(); e != nil {
		s.rd.err = errorFrom(e)
	} else if r := c.GetRead(); r.GetEof() {
		s.rd.eof = true
	} else {
		s.rd.buf = append(s.rd.buf, r.GetData()...)
		if !c.More {
			s.readAheadLocked()
		}
	}
	s.rd.mu.Unlock()
	select {
	case s.rd.wake <- struct{}{}:
	default:
	}
}

// ackLocked returns an Ack for the bytes Reads have returned, once half
// the read-ahead window is unacknowledged and no write has carried the
// count (a plugin that only reads). s.rd.mu must be held.
func (s *StreamSocket) ackLocked() *pluginv1.Command {
	consumed := s.consumed.Load()
	if consumed-s.rd.acked < maxReadAhead/2 {
		return nil
	}
	s.rd.acked = consumed
	s.mu.Lock()
	id := s.id
	s.mu.Unlock()
	return &pluginv1.Command{Command: &pluginv1.Command_Ack{Ack: &pluginv1.Ack{Socket: id, Consumed: consumed}}}
}

// ctxErr is the error of an operation whose context ended: cancelled is
// OperationAborted, expired is ConnectionTimedOut, as in the runtime.
func ctxErr(ctx context.Context, op string) error {
	if ctx.Err() == context.DeadlineExceeded {
		return socketerror.WithStatus(op, "", socketerror.ConnectionTimedOut, ctx.Err())
	}
	return socketerror.WithStatus(op, "", socketerror.OperationAborted, ctx.Err())
}

// Write writes all of p after every write issued before it, and returns
// len(p) unless err is set.
//
// A write of up to quietMax bytes returns as soon as it is queued to the
// host, as long as less than quietWindow bytes of such writes are in
// flight; the next write past that window waits for its completion, which
// covers every write before it. If a queued write fails, the error is
// returned by the next Write or Flush. Flush waits for every write.
func (out *OutputStream) Write(ctx context.Context, p []byte) (int, error) {
	const op = "StreamSocket.OutputStream.Write"
	s := out.s
	id, err := s.conn(op)
	if err != nil {
		return 0, err
	}
	if len(p) <= quietMax && s.quiet.Load()+int64(len(p)) <= quietWindow && ctx.Err() == nil {
		// One allocation for the command and its copy of p: the hot path.
		c := &struct {
			cmd pluginv1.Command
			cw  pluginv1.Command_StreamWrite
			w   pluginv1.StreamWrite
		}{}
		c.w.Socket, c.w.Data, c.w.Consumed = id, slices.Clone(p), s.consumed.Load()
		c.cw.StreamWrite = &c.w
		c.cmd.Command = &c.cw
		if s.h.s.sendNow(&c.cmd) {
			s.quiet.Add(int64(len(p)))
			return len(p), nil
		}
		return 0, endedError(op)
	}
	max := int(s.h.s.hello.MaxPayload)
	n := 0
	for {
		chunk := p[n:min(len(p), n+max)]
		res, err := s.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_StreamWrite{StreamWrite: &pluginv1.StreamWrite{
			Socket: id, Data: chunk, Consumed: s.consumed.Load()}}}, nil)
		if err != nil {
			return n, err
		}
		s.quiet.Store(0) // writes complete in order: the quiet ones before it are done
		n += int(res.GetWritten().Bytes)
		if n >= len(p) {
			return n, nil
		}
	}
}

// Quiet writes: a write of up to quietMax bytes does not wait for the
// host while less than quietWindow bytes of them are in flight.
const (
	quietMax    = 16 << 10
	quietWindow = 64 << 10
)

// Flush returns once every write issued before it has completed.
func (out *OutputStream) Flush(ctx context.Context) error {
	const op = "StreamSocket.OutputStream.Flush"
	id, err := out.s.conn(op)
	if err != nil {
		return err
	}
	_, err = out.s.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_StreamFlush{StreamFlush: &pluginv1.StreamFlush{Socket: id}}}, nil)
	if err == nil {
		out.s.quiet.Store(0)
	}
	return err
}

// CancelIO ends every pending read and write with OperationAborted and
// leaves the connection intact.
func (s *StreamSocket) CancelIO(ctx context.Context) error {
	const op = "StreamSocket.CancelIO"
	id, err := s.conn(op)
	if err != nil {
		return err
	}
	_, err = s.h.s.do(ctx, op, &pluginv1.Command{Command: &pluginv1.Command_CancelIo{CancelIo: &pluginv1.CancelIO{Socket: id}}}, nil)
	return err
}

// TransferOwnership hands the socket to the host's broker with context
// data: if this plugin instance ends, by crash or exit, the host keeps the
// connection open, reads and buffers what arrives, and gives it to the
// next instance (see [Host.Transferred]). Bytes this instance read but
// did not acknowledge (by a later read or write on the socket) are
// delivered again. The plugin may keep using the socket meanwhile.
func (s *StreamSocket) TransferOwnership(ctx context.Context, data []byte) error {
	const op = "StreamSocket.TransferOwnership"
	id, err := s.conn(op)
	if err != nil {
		return err
	}
	if err := s.h.transfer(ctx, op, id, data); err != nil {
		return err
	}
	s.transferred.Store(true)
	return nil
}

func (s *StreamSocket) isTransferred() bool { return s.transferred.Load() }

// Close closes the socket in the host: pending reads end, writes in
// flight finish, and the connection closes with FIN. It is idempotent and
// returns nil.
func (s *StreamSocket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	id, connected := s.id, s.state == stConnected
	s.mu.Unlock()
	if connected {
		s.h.untrack(s)
		s.h.closeID("StreamSocket.Close", id)
	}
	return nil
}

// SocketInformation is a socket's addresses: the subset of WinRT's
// StreamSocketInformation, StreamSocketListenerInformation and
// DatagramSocketInformation that the protocol carries.
type SocketInformation struct {
	localAddress, localPort, remoteAddress, remotePort string
	protection                                         sockets.SocketProtectionLevel
	certErrors                                         []sockets.ChainValidationResult
	severity                                           sockets.SocketSslErrorSeverity
}

func infoFrom(i *pluginv1.SocketInfo) *SocketInformation {
	in := &SocketInformation{localAddress: i.GetLocalAddress(), localPort: i.GetLocalPort(),
		remoteAddress: i.GetRemoteAddress(), remotePort: i.GetRemotePort(),
		protection: sockets.SocketProtectionLevel(i.GetProtectionLevel()),
		severity:   sockets.SocketSslErrorSeverity(i.GetServerCertificateErrorSeverity())}
	for _, r := range i.GetServerCertificateErrors() {
		in.certErrors = append(in.certErrors, sockets.ChainValidationResult(r))
	}
	return in
}

// ProtectionLevel returns a stream socket's protection: the level it
// connected or upgraded with (or last tried to).
func (i *SocketInformation) ProtectionLevel() sockets.SocketProtectionLevel { return i.protection }

// ServerCertificateErrors returns what the last TLS handshake of a
// stream socket found wrong with the server's certificate chain: the
// errors it tolerated, or after a failed Connect or UpgradeToSsl the
// ones that failed it.
func (i *SocketInformation) ServerCertificateErrors() []sockets.ChainValidationResult {
	return slices.Clone(i.certErrors)
}

// ServerCertificateErrorSeverity returns how bad ServerCertificateErrors
// are: SeverityNone, SeverityIgnorable (all may be listed in
// IgnorableServerCertificateErrors) or SeverityFatal.
func (i *SocketInformation) ServerCertificateErrorSeverity() sockets.SocketSslErrorSeverity {
	return i.severity
}

// LocalAddress returns the local address, or nil if unknown.
func (i *SocketInformation) LocalAddress() *networking.HostName { return hostName(i.localAddress) }

// LocalPort returns the local port as a decimal string.
func (i *SocketInformation) LocalPort() string { return i.localPort }

// RemoteAddress returns the peer's address, or nil if unknown.
func (i *SocketInformation) RemoteAddress() *networking.HostName { return hostName(i.remoteAddress) }

// RemotePort returns the peer's port as a decimal string.
func (i *SocketInformation) RemotePort() string { return i.remotePort }

func hostName(s string) *networking.HostName {
	if s == "" {
		return nil
	}
	h, err := networking.NewHostName(s)
	if err != nil {
		return nil
	}
	return h
}
