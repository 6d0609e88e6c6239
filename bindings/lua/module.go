package lua

import (
	"context"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
	"github.com/netrun/netrun/runtime/websocket"
)

// enums lists the enumerations require("netrun") exposes: name → value,
// WinRT's numbers.
func enums() map[string]map[string]int {
	statuses := map[string]int{}
	for s := socketerror.Status(0); int(s) < socketerror.NumStatuses; s++ {
		statuses[s.String()] = int(s)
	}
	chain := map[string]int{}
	for r := sockets.Success; r <= sockets.OtherErrors; r++ {
		chain[r.String()] = int(r)
	}
	protection := map[string]int{}
	for l := sockets.PlainSocket; l <= sockets.Unspecified; l++ {
		protection[l.String()] = int(l)
	}
	web := map[string]int{}
	for _, s := range websocket.WebErrorStatuses() {
		web[s.String()] = int(s)
	}
	return map[string]map[string]int{
		"WebErrorStatus":              web,
		"MessageWebSocketReceiveMode": {"FullMessage": 0, "PartialMessage": 1},
		"SocketErrorStatus":           statuses,
		"ChainValidationResult":       chain,
		"SocketProtectionLevel":       protection,
		"SocketQualityOfService":      {"Normal": 0, "LowLatency": 1},
		"SocketSslErrorSeverity":      {"None": 0, "Ignorable": 1, "Fatal": 2},
		"SocketMessageType":           {"Binary": 0, "Utf8": 1},
		"InputStreamOptions":          {"None": 0, "Partial": 1, "ReadAhead": 2},
		"UnicodeEncoding":             {"Utf8": 0, "Utf16LE": 1, "Utf16BE": 2},
		"ByteOrder":                   {"LittleEndian": 0, "BigEndian": 1},
		"AsyncStatus":                 {"Started": 0, "Completed": 1, "Canceled": 2, "Error": 3},
		"HostNameType":                {"DomainName": 0, "Ipv4": 1, "Ipv6": 2, "Bluetooth": 3},
		"HostNameSortOptions":         {"None": 0, "OptimizeForLongConnections": 2},
	}
}

// netrunModule builds the table require("netrun") returns in v's state.
func (v *vm) netrunModule() *glua.LTable {
	L := v.L
	m := L.NewTable()
	all := enums()
	for name, values := range triggerEnums() {
		all[name] = values
	}
	for name, values := range all {
		t := L.CreateTable(0, len(values))
		for k, n := range values {
			t.RawSetString(k, glua.LNumber(n))
		}
		m.RawSetString(name, t)
	}
	m.RawSetString("HostName", hostNameModule(L))
	m.RawSetString("EndpointPair", endpointPairModule(L))
	m.RawSetString("Certificate", certificateModule(L))
	m.RawSetString("StreamSocket", streamSocketModule(v, L))
	m.RawSetString("StreamSocketListener", listenerModule(v, L))
	m.RawSetString("DatagramSocket", datagramModule(v, L))
	m.RawSetString("DataReader", dataReaderModule(v, L))
	m.RawSetString("DataWriter", dataWriterModule(v, L))
	for name, mod := range wsModules(v, L) {
		m.RawSetString(name, mod)
	}
	for name, mod := range triggerModules(v, L) {
		m.RawSetString(name, mod)
	}
	for name, mod := range v.engine.extraModules(v, L) {
		m.RawSetString(name, mod)
	}

	socketError := L.NewTable()
	socketError.RawSetString("GetStatus", L.NewFunction(func(L *glua.LState) int {
		L.Push(glua.LNumber(statusOf(L, 1, "SocketError.GetStatus")))
		return 1
	}))
	m.RawSetString("SocketError", socketError)

	m.RawSetString("spawn", L.NewFunction(func(L *glua.LState) int {
		fn := argFunction(L, 1, "net.spawn", "fn")
		if L.GetTop() > 5 {
			raiseArg(L, "net.spawn", 6, "...", "at most 4 arguments are passed to the task")
		}
		args := make([]glua.LValue, 0, 4)
		for i := 2; i <= L.GetTop(); i++ {
			args = append(args, L.Get(i))
		}
		v.spawnLocked(fn, args...)
		return 0
	}))
	m.RawSetString("sleepAsync", L.NewFunction(v.sleepAsync))
	m.RawSetString("sleep", v.sleep)
	m.RawSetString("state", v.state)
	return m
}

// sleepAsync returns an operation that completes after the given seconds.
func (v *vm) sleepAsync(L *glua.LState) int {
	const name = "net.sleep"
	num, ok := L.Get(1).(glua.LNumber)
	if !ok {
		raiseArg(L, name, 1, "seconds", "number expected, got %s", typeName(L.Get(1)))
	}
	secs := float64(num)
	if !(secs >= 0 && secs <= 365*24*3600) { // NaN fails too
		raiseArg(L, name, 1, "seconds", "%v is out of range [0, 31536000]", secs)
	}
	d := time.Duration(secs * float64(time.Second))
	op := v.startCtxLocked(L, name, func(ctx context.Context) (func(*glua.LState) []glua.LValue, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, socketerror.WithStatus(name, "", socketerror.OperationAborted, ctx.Err())
		}
	})
	L.Push(op.ud)
	return 1
}

// statusOf is SocketError.GetStatus: an error value, a Go error or an
// HRESULT number.
func statusOf(L *glua.LState, n int, method string) socketerror.Status {
	switch e := L.Get(n).(type) {
	case glua.LNumber:
		return socketerror.StatusOf(socketerror.HResult(uint32(int64(e))))
	case *glua.LUserData:
		if le, ok := e.Value.(*luaError); ok {
			return le.Status
		}
	case glua.LString:
		return socketerror.Unknown
	}
	raiseArg(L, method, n, "error", "an error value or an HRESULT number expected, got %s", typeName(L.Get(n)))
	return 0
}
