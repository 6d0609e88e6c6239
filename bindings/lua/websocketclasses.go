package lua

import (
	"context"
	"crypto/tls"
	"math"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/event"
	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// The Lua classes of the four WebSocket classes and their companions.
// MessageWebSocket and StreamWebSocket are clients made with new();
// ServerMessageWebSocket and ServerStreamWebSocket come from AcceptAsync
// on a socket a listener accepted (API.md).

// wsModules returns the WebSocket entries of the netrun module.
func wsModules(v *vm, L *glua.LState) map[string]glua.LValue {
	mws := L.NewTable()
	mws.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		m := websocket.NewMessageWebSocket(v.env)
		l := v.newWebSocket(L, messageWebSocketClass, m)
		l.typed = m.Control()
		l.msgType = m.Control().MessageType()
		l.sentType = l.msgType
		L.Push(l.ud)
		return 1
	}))
	sws := L.NewTable()
	sws.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		L.Push(v.newWebSocket(L, streamWebSocketClass, websocket.NewStreamWebSocket(v.env)).ud)
		return 1
	}))
	smws := L.NewTable()
	smws.RawSetString("AcceptAsync", L.NewFunction(func(L *glua.LState) int {
		const m = "ServerMessageWebSocket.AcceptAsync"
		L.Push(v.acceptLocked(L, m, func(ctx context.Context, s *sockets.StreamSocket, o websocket.AcceptOptions) (websocket.WebSocket, error) {
			return websocket.AcceptMessage(ctx, s, o)
		}).ud)
		return 1
	}))
	ssws := L.NewTable()
	ssws.RawSetString("AcceptAsync", L.NewFunction(func(L *glua.LState) int {
		const m = "ServerStreamWebSocket.AcceptAsync"
		L.Push(v.acceptLocked(L, m, func(ctx context.Context, s *sockets.StreamSocket, o websocket.AcceptOptions) (websocket.WebSocket, error) {
			return websocket.AcceptStream(ctx, s, o)
		}).ud)
		return 1
	}))
	wsError := L.NewTable()
	wsError.RawSetString("GetStatus", L.NewFunction(func(L *glua.LState) int {
		L.Push(glua.LNumber(webStatusOf(L, 1, "WebSocketError.GetStatus")))
		return 1
	}))
	return map[string]glua.LValue{
		"MessageWebSocket":       mws,
		"StreamWebSocket":        sws,
		"ServerMessageWebSocket": smws,
		"ServerStreamWebSocket":  ssws,
		"WebSocketError":         wsError,
	}
}

// webStatusOf is WebSocketError.GetStatus: an error value or an HRESULT
// number.
func webStatusOf(L *glua.LState, n int, method string) websocket.WebErrorStatus {
	switch e := L.Get(n).(type) {
	case glua.LNumber:
		return websocket.StatusOf(socketerror.HResult(uint32(int64(e))))
	case *glua.LUserData:
		if le, ok := e.Value.(*luaError); ok {
			return le.Web
		}
	case glua.LString:
		return websocket.Unknown
	}
	raiseArg(L, method, n, "error", "an error value or an HRESULT number expected, got %s", typeName(L.Get(n)))
	return 0
}

// acceptLocked runs a server handshake on argument 1, a StreamSocket a
// listener accepted, with the options table of argument 2. The socket is
// the WebSocket's from then on, whatever the outcome: a failed handshake
// answers with an HTTP error and closes it.
func (v *vm) acceptLocked(L *glua.LState, m string,
	accept func(context.Context, *sockets.StreamSocket, websocket.AcceptOptions) (websocket.WebSocket, error)) *operation {
	ls := check[*lStreamSocket](L, 1, streamSocketClass, m, "socket")
	opts := argAcceptOptions(L, 2, m)
	if ls.transferred.Load() {
		raiseError(L, errTransferred(m))
	}
	if ls.upgraded.Swap(true) {
		raiseIllegal(L, m, "the socket was already given to a WebSocket")
	}
	opts.Logger = v.log
	s := ls.s
	var conn websocket.WebSocket
	return v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
		var err error
		conn, err = accept(ctx, s, opts)
		if err != nil {
			// The failed handshake closed the socket: it is no
			// connection for a draining version to wait for.
			v.owned.remove(s)
			return nil, err
		}
		return func(L *glua.LState) []glua.LValue {
			v.owned.remove(s) // the WebSocket owns it now
			c := serverStreamWebSocketClass
			if _, ok := conn.(websocket.MessageConn); ok {
				c = serverMessageWebSocketClass
			}
			l := v.newWebSocket(L, c, conn)
			if sm, ok := conn.(*websocket.ServerMessageWebSocket); ok {
				l.typed = sm.Control()
				l.msgType = sm.Control().MessageType()
				l.sentType = l.msgType
			}
			return []glua.LValue{l.ud}
		}, nil
	})
}

// argAcceptOptions reads AcceptAsync's options table: protocols (a list
// of strings), path, maxMessageSize, receiveMode, originPatterns (a list),
// insecureSkipOriginVerify and handshakeTimeout (seconds).
func argAcceptOptions(L *glua.LState, n int, m string) websocket.AcceptOptions {
	var o websocket.AcceptOptions
	switch t := L.Get(n).(type) {
	case *glua.LNilType:
		return o
	case *glua.LTable:
		t.ForEach(func(k, val glua.LValue) {
			key, ok := k.(glua.LString)
			if !ok {
				raiseArg(L, m, n, "options", "keys must be strings, got %s", typeName(k))
			}
			field := m + " options." + string(key)
			switch key {
			case "protocols":
				o.Protocols = valueStrings(L, field, val)
			case "originPatterns":
				o.OriginPatterns = valueStrings(L, field, val)
			case "path":
				s, ok := val.(glua.LString)
				if !ok || len(s) == 0 || s[0] != '/' {
					raiseArg(L, m, n, "options", "path must be a string that begins with \"/\", got %s", typeName(val))
				}
				o.Path = string(s)
			case "maxMessageSize":
				o.MaxMessageSize = uint32(valueInt(L, field, val, 1, math.MaxUint32))
			case "receiveMode":
				o.ReceiveMode = websocket.MessageWebSocketReceiveMode(valueInt(L, field, val, 0, 1))
			case "insecureSkipOriginVerify":
				o.InsecureSkipOriginVerify = valueBool(L, field, val)
			case "handshakeTimeout":
				o.HandshakeTimeout = valueSeconds(L, field, val)
			default:
				raiseArg(L, m, n, "options", "unknown option %q (known: protocols, path, maxMessageSize, receiveMode, originPatterns, insecureSkipOriginVerify, handshakeTimeout)", string(key))
			}
		})
		return o
	}
	raiseArg(L, m, n, "options", "table expected, got %s", typeName(L.Get(n)))
	return o
}

// valueStrings reads a Lua array of strings.
func valueStrings(L *glua.LState, prop string, v glua.LValue) []string {
	t, ok := v.(*glua.LTable)
	if !ok {
		raiseArg(L, prop, 1, "value", "a list of strings expected, got %s", typeName(v))
	}
	var out []string
	for i := 1; i <= t.Len(); i++ {
		s, ok := t.RawGetInt(i).(glua.LString)
		if !ok {
			raiseArg(L, prop, 1, "value", "item %d: string expected, got %s", i, typeName(t.RawGetInt(i)))
		}
		out = append(out, string(s))
	}
	return out
}

// valueSeconds reads a duration given in seconds (fractions allowed), at
// most a year.
func valueSeconds(L *glua.LState, prop string, v glua.LValue) time.Duration {
	num, ok := v.(glua.LNumber)
	if !ok {
		raiseArg(L, prop, 1, "value", "seconds expected, got %s", typeName(v))
	}
	secs := float64(num)
	if !(secs >= 0 && secs <= 365*24*3600) {
		raiseArg(L, prop, 1, "value", "%v seconds is out of range [0, 31536000]", secs)
	}
	return time.Duration(secs * float64(time.Second))
}

// wsMethods are the methods every WebSocket class has.
func wsMethods(class string, more map[string]glua.LGFunction) map[string]glua.LGFunction {
	methods := map[string]glua.LGFunction{
		"Close": func(L *glua.LState) int {
			m := class + ":Close"
			self[*lWebSocket](L, m).closeLocked(L, m)
			return 0
		},
	}
	for k, f := range more {
		methods[k] = f
	}
	return methods
}

// wsClient is a client WebSocket: MessageWebSocket or StreamWebSocket.
type wsClient interface {
	Connect(ctx context.Context, uri string) error
	SetRequestHeader(name, value string) error
	ServerCustomValidationRequested() *event.Event[*websocket.ServerCustomValidationRequestedEventArgs]
}

// wsClientMethods are ConnectAsync and SetRequestHeader, which the client
// classes add.
func wsClientMethods(class string) map[string]glua.LGFunction {
	return map[string]glua.LGFunction{
		"ConnectAsync": func(L *glua.LState) int {
			m := class + ":ConnectAsync"
			l := self[*lWebSocket](L, m)
			uri := argString(L, 2, m, "uri")
			if l.closing {
				raiseClosed(L, m)
			}
			c := l.conn.(wsClient)
			L.Push(l.v.startCtxLocked(L, m, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
				return nil, c.Connect(ctx, uri)
			}).ud)
			return 1
		},
		"SetRequestHeader": func(L *glua.LState) int {
			m := class + ":SetRequestHeader"
			l := self[*lWebSocket](L, m)
			if err := l.conn.(wsClient).SetRequestHeader(argString(L, 2, m, "headerName"), argString(L, 3, m, "headerValue")); err != nil {
				raiseError(L, err)
			}
			return 0
		},
	}
}

// wsMessageMethods are the frame-sending methods of the message classes.
func wsMessageMethods(class string) map[string]glua.LGFunction {
	frame := func(name string, kind wsWriteKind) glua.LGFunction {
		return func(L *glua.LState) int {
			m := class + ":" + name
			l := self[*lWebSocket](L, m)
			L.Push(l.sendLocked(L, m, argString(L, 2, m, "data"), kind).ud)
			return 1
		}
	}
	return map[string]glua.LGFunction{
		"SendNonfinalFrameAsync": frame("SendNonfinalFrameAsync", wsNonfinalFrame),
		"SendFinalFrameAsync":    frame("SendFinalFrameAsync", wsFinalFrame),
	}
}

func mergeMethods(ms ...map[string]glua.LGFunction) map[string]glua.LGFunction {
	out := map[string]glua.LGFunction{}
	for _, m := range ms {
		for k, f := range m {
			out[k] = f
		}
	}
	return out
}

// wsGetters are the properties of a WebSocket class: Information,
// Closed, and Control, OutputStream, InputStream, MessageReceived and
// ServerCustomValidationRequested where the class has them.
func wsGetters(control *class, message, stream, client bool) map[string]getter {
	g := map[string]getter{
		"Information": func(L *glua.LState, o any) glua.LValue {
			l := o.(*lWebSocket)
			return l.companion(L, &l.info, wsInfoClass)
		},
		"Closed": func(L *glua.LState, o any) glua.LValue { return o.(*lWebSocket).closed },
	}
	if control != nil {
		g["Control"] = func(L *glua.LState, o any) glua.LValue {
			l := o.(*lWebSocket)
			return l.companion(L, &l.control, control)
		}
	}
	if message {
		g["MessageReceived"] = func(L *glua.LState, o any) glua.LValue { return o.(*lWebSocket).messageReceived }
		g["OutputStream"] = func(L *glua.LState, o any) glua.LValue {
			l := o.(*lWebSocket)
			if l.output == nil {
				l.output = newObject(L, wsMessageOutputClass, &wsOutput{l: l})
			}
			return l.output
		}
	}
	if stream {
		g["InputStream"] = func(L *glua.LState, o any) glua.LValue {
			l := o.(*lWebSocket)
			if l.input == nil {
				l.input = newObject(L, wsInputClass, &wsInput{l: l})
			}
			return l.input
		}
		g["OutputStream"] = func(L *glua.LState, o any) glua.LValue {
			l := o.(*lWebSocket)
			if l.output == nil {
				l.output = newObject(L, wsStreamOutputClass, &wsOutput{l: l})
			}
			return l.output
		}
	}
	if client {
		g["ServerCustomValidationRequested"] = func(L *glua.LState, o any) glua.LValue {
			l := o.(*lWebSocket)
			if l.validation == nil {
				l.validation = newObject(L, eventClass, bindEvent(l.v, l.class.name+".ServerCustomValidationRequested",
					l.conn.(wsClient).ServerCustomValidationRequested(), glua.LValue(l.ud),
					func(L *glua.LState, a *websocket.ServerCustomValidationRequestedEventArgs) glua.LValue {
						return newObject(L, wsValidationArgsClass, a)
					}, nil))
			}
			return l.validation
		}
	}
	return g
}

var messageWebSocketClass = &class{
	name:    "MessageWebSocket",
	methods: mergeMethods(wsMethods("MessageWebSocket", nil), wsClientMethods("MessageWebSocket"), wsMessageMethods("MessageWebSocket")),
	getters: wsGetters(messageControlClass, true, false, true),
	tostring: func(o any) string {
		return "MessageWebSocket " + o.(*lWebSocket).conn.Information().Protocol()
	},
}

var streamWebSocketClass = &class{
	name:     "StreamWebSocket",
	methods:  mergeMethods(wsMethods("StreamWebSocket", nil), wsClientMethods("StreamWebSocket")),
	getters:  wsGetters(streamControlWSClass, false, true, true),
	tostring: func(o any) string { return "StreamWebSocket" },
}

var serverMessageWebSocketClass = &class{
	name:     "ServerMessageWebSocket",
	methods:  mergeMethods(wsMethods("ServerMessageWebSocket", nil), wsMessageMethods("ServerMessageWebSocket")),
	getters:  wsGetters(serverMessageControlClass, true, false, false),
	tostring: func(o any) string { return "ServerMessageWebSocket" },
}

var serverStreamWebSocketClass = &class{
	name:     "ServerStreamWebSocket",
	methods:  wsMethods("ServerStreamWebSocket", nil),
	getters:  wsGetters(nil, false, true, false),
	tostring: func(o any) string { return "ServerStreamWebSocket" },
}

// wsMessageOutputClass is a message WebSocket's OutputStream: each
// WriteAsync, and each DataWriter:StoreAsync on it, sends one message of
// Control.MessageType.
var wsMessageOutputClass = &class{
	name: "MessageWebSocketOutputStream",
	methods: map[string]glua.LGFunction{
		"WriteAsync": wsOutputWrite("MessageWebSocketOutputStream:WriteAsync"),
		"FlushAsync": wsOutputFlush("MessageWebSocketOutputStream:FlushAsync"),
	},
	tostring: func(o any) string { return "MessageWebSocketOutputStream" },
}

// wsStreamOutputClass is a stream WebSocket's OutputStream: bytes, sent
// as binary messages.
var wsStreamOutputClass = &class{
	name: "StreamWebSocketOutputStream",
	methods: map[string]glua.LGFunction{
		"WriteAsync": wsOutputWrite("StreamWebSocketOutputStream:WriteAsync"),
		"FlushAsync": wsOutputFlush("StreamWebSocketOutputStream:FlushAsync"),
	},
	tostring: func(o any) string { return "StreamWebSocketOutputStream" },
}

func wsOutputWrite(m string) glua.LGFunction {
	return func(L *glua.LState) int {
		o := self[*wsOutput](L, m)
		L.Push(o.l.sendLocked(L, m, argString(L, 2, m, "buffer"), wsMessage).ud)
		return 1
	}
}

func wsOutputFlush(m string) glua.LGFunction {
	return func(L *glua.LState) int {
		o := self[*wsOutput](L, m)
		L.Push(o.l.sendLocked(L, m, "", wsFlush).ud)
		return 1
	}
}

var wsInputClass = &class{
	name: "StreamWebSocketInputStream",
	methods: map[string]glua.LGFunction{
		"ReadAsync": func(L *glua.LState) int {
			const m = "StreamWebSocketInputStream:ReadAsync"
			in := self[*wsInput](L, m)
			count := int(argInt(L, 2, m, "count", 1, 64<<20))
			opts := sockets.InputStreamOptions(optInt(L, 3, m, "options", 0, 2, int64(sockets.Partial)))
			L.Push(in.readLocked(L, m, count, opts != sockets.InputStreamNone).ud)
			return 1
		},
	},
	tostring: func(o any) string { return "StreamWebSocketInputStream" },
}

// wsMessageArgs is MessageReceived's args: the message (or piece) is the
// handler's own copy.
type wsMessageArgs struct {
	v        *vm
	typ      websocket.SocketMessageType
	complete bool
	data     []byte // never written to: readers of it share it
}

var wsMessageArgsClass = &class{
	name: "MessageWebSocketMessageReceivedEventArgs",
	methods: map[string]glua.LGFunction{
		"GetDataReader": func(L *glua.LState) int {
			a := self[*wsMessageArgs](L, "MessageWebSocketMessageReceivedEventArgs:GetDataReader")
			L.Push(newObject(L, dataReaderClass, newMessageReader(a.v, a.data)))
			return 1
		},
		"GetDataStream": func(L *glua.LState) int {
			a := self[*wsMessageArgs](L, "MessageWebSocketMessageReceivedEventArgs:GetDataStream")
			L.Push(newObject(L, memInputClass, &memInput{v: a.v, data: a.data}))
			return 1
		},
	},
	getters: map[string]getter{
		"MessageType":       func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*wsMessageArgs).typ) },
		"IsMessageComplete": func(L *glua.LState, o any) glua.LValue { return glua.LBool(o.(*wsMessageArgs).complete) },
	},
	tostring: func(o any) string { return "MessageWebSocketMessageReceivedEventArgs" },
}

// wsClosedArgs is Closed's args.
type wsClosedArgs struct {
	code   uint16
	reason string
}

var wsClosedArgsClass = &class{
	name: "WebSocketClosedEventArgs",
	getters: map[string]getter{
		"Code":   func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*wsClosedArgs).code) },
		"Reason": func(L *glua.LState, o any) glua.LValue { return glua.LString(o.(*wsClosedArgs).reason) },
	},
	tostring: func(o any) string { return "WebSocketClosedEventArgs" },
}

var wsValidationArgsClass = &class{
	name: "WebSocketServerCustomValidationRequestedEventArgs",
	methods: map[string]glua.LGFunction{
		"Reject": func(L *glua.LState) int {
			self[*websocket.ServerCustomValidationRequestedEventArgs](L, "WebSocketServerCustomValidationRequestedEventArgs:Reject").Reject()
			return 0
		},
		"GetDeferral": func(L *glua.LState) int {
			a := self[*websocket.ServerCustomValidationRequestedEventArgs](L, "WebSocketServerCustomValidationRequestedEventArgs:GetDeferral")
			L.Push(newObject(L, deferralClass, a.GetDeferral()))
			return 1
		},
	},
	getters: map[string]getter{
		"ServerCertificate": func(L *glua.LState, o any) glua.LValue {
			return certificateValue(L, o.(*websocket.ServerCustomValidationRequestedEventArgs).ServerCertificate())
		},
		"ServerIntermediateCertificates": func(L *glua.LState, o any) glua.LValue {
			return certificatesValue(L, o.(*websocket.ServerCustomValidationRequestedEventArgs).ServerIntermediateCertificates())
		},
		"ServerCertificateErrors": func(L *glua.LState, o any) glua.LValue {
			return chainResultsValue(L, o.(*websocket.ServerCustomValidationRequestedEventArgs).ServerCertificateErrors())
		},
		"ServerCertificateErrorSeverity": func(L *glua.LState, o any) glua.LValue {
			return glua.LNumber(o.(*websocket.ServerCustomValidationRequestedEventArgs).ServerCertificateErrorSeverity())
		},
	},
}

var deferralClass = &class{
	name: "Deferral",
	methods: map[string]glua.LGFunction{
		"Complete": func(L *glua.LState) int {
			self[*websocket.Deferral](L, "Deferral:Complete").Complete()
			return 0
		},
	},
}

func wsInfo(o any) *websocket.WebSocketInformation { return o.(*lWebSocket).conn.Information() }

var wsInfoClass = &class{
	name: "WebSocketInformation",
	getters: map[string]getter{
		"Protocol":     func(L *glua.LState, o any) glua.LValue { return glua.LString(wsInfo(o).Protocol()) },
		"LocalAddress": func(L *glua.LState, o any) glua.LValue { return hostNameValue(L, wsInfo(o).LocalAddress()) },
		"ServerCertificate": func(L *glua.LState, o any) glua.LValue {
			return certificateValue(L, wsInfo(o).ServerCertificate())
		},
		"ServerIntermediateCertificates": func(L *glua.LState, o any) glua.LValue {
			return certificatesValue(L, wsInfo(o).ServerIntermediateCertificates())
		},
		"ServerCertificateErrors": func(L *glua.LState, o any) glua.LValue {
			return chainResultsValue(L, wsInfo(o).ServerCertificateErrors())
		},
		"ServerCertificateErrorSeverity": func(L *glua.LState, o any) glua.LValue {
			return glua.LNumber(wsInfo(o).ServerCertificateErrorSeverity())
		},
	},
}

// The Control classes. A client's options must be set before ConnectAsync
// (IllegalMethodCall afterwards, from the runtime); MessageType may change
// at any time and applies to the messages sent next.

// wsCtl returns the options both client Controls share.
func wsCtl(o any) *websocket.WebSocketControl {
	switch c := o.(*lWebSocket).conn.(type) {
	case *websocket.MessageWebSocket:
		return &c.Control().WebSocketControl
	case *websocket.StreamWebSocket:
		return &c.Control().WebSocketControl
	}
	return nil
}

func wsSet(L *glua.LState, err error) {
	if err != nil {
		raiseError(L, err)
	}
}

// wsClientControl adds the properties both client Controls have to c.
func wsClientControl(c *class) *class {
	p := c.name + "."
	c.getters["SupportedProtocols"] = func(L *glua.LState, o any) glua.LValue {
		ctl := wsCtl(o)
		return newObject(L, vectorClass, &vector{
			name: "SupportedProtocols",
			get: func() []glua.LValue {
				var out []glua.LValue
				for _, s := range ctl.SupportedProtocols() {
					out = append(out, glua.LString(s))
				}
				return out
			},
			set: func(L *glua.LState, vals []glua.LValue) {
				old := ctl.SupportedProtocols()
				// Append is the only edit the runtime offers: rebuild
				// the list when it shrinks.
				if len(vals) < len(old) {
					raiseIllegal(L, p+"SupportedProtocols", "protocols can only be appended")
				}
				for _, v := range vals[len(old):] {
					s, ok := v.(glua.LString)
					if !ok {
						raiseArg(L, p+"SupportedProtocols:Append", 2, "protocol", "string expected, got %s", typeName(v))
					}
					wsSet(L, ctl.AppendSupportedProtocol(string(s)))
				}
			},
		})
	}
	c.getters["IgnorableServerCertificateErrors"] = func(L *glua.LState, o any) glua.LValue {
		ctl := wsCtl(o)
		return newObject(L, vectorClass, &vector{
			name: "IgnorableServerCertificateErrors",
			get: func() []glua.LValue {
				var out []glua.LValue
				for _, r := range ctl.IgnorableServerCertificateErrors() {
					out = append(out, glua.LNumber(r))
				}
				return out
			},
			set: func(L *glua.LState, vals []glua.LValue) {
				var rs []sockets.ChainValidationResult
				for _, v := range vals {
					rs = append(rs, sockets.ChainValidationResult(valueInt(L, p+"IgnorableServerCertificateErrors", v, 0, 13)))
				}
				wsSet(L, ctl.SetIgnorableServerCertificateErrors(rs))
			},
		})
	}
	c.getters["ServerCredential"] = func(L *glua.LState, o any) glua.LValue {
		cred := wsCtl(o).ServerCredential()
		if cred == nil {
			return glua.LNil
		}
		t := L.NewTable()
		t.RawSetString("UserName", glua.LString(cred.UserName))
		t.RawSetString("Password", glua.LString(cred.Password))
		return t
	}
	c.setters["ServerCredential"] = func(L *glua.LState, o any, v glua.LValue) {
		if v == glua.LNil {
			wsSet(L, wsCtl(o).SetServerCredential(nil))
			return
		}
		bad := func() {
			raiseArg(L, p+"ServerCredential", 1, "value", "a table { UserName = string, Password = string } or nil expected, got %s", typeName(v))
		}
		t, ok := v.(*glua.LTable)
		if !ok {
			bad()
		}
		user, uok := t.RawGetString("UserName").(glua.LString)
		pass, pok := t.RawGetString("Password").(glua.LString)
		if !uok || !pok {
			bad()
		}
		wsSet(L, wsCtl(o).SetServerCredential(&websocket.PasswordCredential{UserName: string(user), Password: string(pass)}))
	}
	c.getters["ClientCertificate"], c.setters["ClientCertificate"] = certificateProp(p+"ClientCertificate",
		func(o any) *tls.Certificate { return wsCtl(o).ClientCertificate() },
		func(o any, cert *tls.Certificate) error { return wsCtl(o).SetClientCertificate(cert) })
	c.getters["DesiredUnsolicitedPongInterval"] = func(L *glua.LState, o any) glua.LValue {
		return glua.LNumber(wsCtl(o).DesiredUnsolicitedPongInterval().Seconds())
	}
	c.setters["DesiredUnsolicitedPongInterval"] = func(L *glua.LState, o any, v glua.LValue) {
		wsSet(L, wsCtl(o).SetDesiredUnsolicitedPongInterval(valueSeconds(L, p+"DesiredUnsolicitedPongInterval", v)))
	}
	c.getters["ActualUnsolicitedPongInterval"] = func(L *glua.LState, o any) glua.LValue {
		return glua.LNumber(wsCtl(o).ActualUnsolicitedPongInterval().Seconds())
	}
	c.getters["OutboundBufferSizeInBytes"] = func(L *glua.LState, o any) glua.LValue {
		return glua.LNumber(wsCtl(o).OutboundBufferSizeInBytes())
	}
	c.setters["OutboundBufferSizeInBytes"] = func(L *glua.LState, o any, v glua.LValue) {
		wsSet(L, wsCtl(o).SetOutboundBufferSizeInBytes(uint32(valueInt(L, p+"OutboundBufferSizeInBytes", v, 0, 1<<31))))
	}
	return c
}

// wsMessageTypeProp adds MessageType, kept by the binding (see
// lWebSocket.msgType), to c.
func wsMessageTypeProp(c *class) *class {
	c.getters["MessageType"] = func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*lWebSocket).msgType) }
	c.setters["MessageType"] = func(L *glua.LState, o any, v glua.LValue) {
		o.(*lWebSocket).msgType = websocket.SocketMessageType(valueInt(L, c.name+".MessageType", v, 0, 1))
	}
	return c
}

var messageControlClass = func() *class {
	c := wsMessageTypeProp(wsClientControl(&class{name: "MessageWebSocketControl", getters: map[string]getter{}, setters: map[string]setter{}}))
	ctl := func(o any) *websocket.MessageWebSocketControl {
		return o.(*lWebSocket).conn.(*websocket.MessageWebSocket).Control()
	}
	c.getters["MaxMessageSize"] = func(L *glua.LState, o any) glua.LValue { return glua.LNumber(ctl(o).MaxMessageSize()) }
	c.setters["MaxMessageSize"] = func(L *glua.LState, o any, v glua.LValue) {
		wsSet(L, ctl(o).SetMaxMessageSize(uint32(valueInt(L, "MessageWebSocketControl.MaxMessageSize", v, 1, math.MaxUint32))))
	}
	c.getters["ReceiveMode"] = func(L *glua.LState, o any) glua.LValue { return glua.LNumber(ctl(o).ReceiveMode()) }
	c.setters["ReceiveMode"] = func(L *glua.LState, o any, v glua.LValue) {
		wsSet(L, ctl(o).SetReceiveMode(websocket.MessageWebSocketReceiveMode(valueInt(L, "MessageWebSocketControl.ReceiveMode", v, 0, 1))))
	}
	return c
}()

var streamControlWSClass = func() *class {
	c := wsClientControl(&class{name: "StreamWebSocketControl", getters: map[string]getter{}, setters: map[string]setter{}})
	ctl := func(o any) *websocket.StreamWebSocketControl {
		return o.(*lWebSocket).conn.(*websocket.StreamWebSocket).Control()
	}
	c.getters["NoDelay"] = func(L *glua.LState, o any) glua.LValue { return glua.LBool(ctl(o).NoDelay()) }
	c.setters["NoDelay"] = func(L *glua.LState, o any, v glua.LValue) {
		wsSet(L, ctl(o).SetNoDelay(valueBool(L, "StreamWebSocketControl.NoDelay", v)))
	}
	return c
}()

var serverMessageControlClass = wsMessageTypeProp(&class{name: "ServerMessageWebSocketControl", getters: map[string]getter{}, setters: map[string]setter{}})
