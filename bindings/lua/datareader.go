package lua

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/socketerror"
	"github.com/netrun/netrun/runtime/sockets"
)

// DataReader and DataWriter are Windows.Storage.Streams' classes as
// API.md lists them. Their buffers hold bytes; Lua sees them as strings
// (binary-safe) and numbers.
//
// Numbers: Lua numbers are float64, so ReadInt64 and ReadUInt64 return
// the nearest float64 and values beyond 2^53 lose precision;
// WriteInt64 and WriteUInt64 write the integer a Lua number holds exactly
// (any integral float64 in range), and reject fractions and values out of
// the type's range with E_INVALIDARG.
//
// Strings: with UnicodeEncoding Utf8 a Lua string is written and read as
// its bytes, unchecked (Lua strings are byte strings; WinRT's HSTRING
// could not hold invalid UTF-8 in the first place). With Utf16LE and
// Utf16BE, WriteString converts UTF-8 to UTF-16 code units and rejects a
// string that is not valid UTF-8; ReadString converts back, and a lone
// surrogate reads as U+FFFD.
//
// Departures from WinRT: Close and DetachStream never close the
// underlying stream (a socket's streams close with the socket); the
// buffers are bounded at maxDataBuffer; InputStreamOptions.ReadAhead is
// accepted and reads what Partial or None would.

// maxDataBuffer bounds a DataReader's unconsumed bytes plus a LoadAsync's
// count, and a DataWriter's unstored bytes: a script cannot make the host
// hold more for it in one buffer.
const maxDataBuffer = 64 << 20

// eBounds is E_BOUNDS, what WinRT's DataReader raises for a read past
// the loaded bytes.
const eBounds socketerror.HResult = 0x8000000B

// ByteOrder values, as WinRT numbers them.
const (
	littleEndian = 0
	bigEndian    = 1
)

// UnicodeEncoding values, as WinRT numbers them.
const (
	utf8Encoding    = 0
	utf16LEEncoding = 1
	utf16BEEncoding = 2
)

// raiseBounds raises E_BOUNDS for a read of need bytes with avail loaded.
func raiseBounds(L *glua.LState, method string, need, avail int) {
	L.Error(newObject(L, errorClass, &luaError{
		HResult: eBounds,
		Status:  socketerror.Unknown,
		Message: fmt.Sprintf("%s: %d bytes needed, %d available (UnconsumedBufferLength); LoadAsync more first", method, need, avail),
	}), 0)
}

// raiseClosed raises RO_E_CLOSED for a method of a closed object.
func raiseClosed(L *glua.LState, method string) {
	raiseError(L, socketerror.Closed(method))
}

// inputSource is an input stream a DataReader can load from, other than a
// StreamSocket's InputStream: a userdata whose Value implements it (the
// stream of a received datagram or message) can be given to
// DataReader.new.
type inputSource interface {
	// immediate reports whether loadNow serves every load: the bytes are
	// all in memory.
	immediate() bool
	// loadNow returns up to n bytes at once, nil at the end. It runs under
	// the state's lock; the slice must not be written to.
	loadNow(n int) []byte
	// load waits for up to n bytes off the state's lock: with partial,
	// until any have arrived; otherwise until n have or the stream ends.
	// It returns nil and no error at the end of the stream.
	load(n int, partial bool) ([]byte, error)
	// cancelLoad asks a load in progress to end (op:Cancel()).
	cancelLoad()
}

// socketInput is a StreamSocket's InputStream as a DataReader loads it.
type socketInput struct{ ls *lStreamSocket }

func (socketInput) immediate() bool    { return false }
func (socketInput) loadNow(int) []byte { return nil }
func (in socketInput) cancelLoad()     { go in.ls.s.CancelIO(context.Background()) }

func (in socketInput) load(n int, partial bool) ([]byte, error) {
	opts := sockets.InputStreamNone
	if partial {
		opts = sockets.Partial
	}
	if in.ls.upgraded.Load() {
		return nil, errUpgraded("DataReader.LoadAsync")
	}
	if in.ls.transferred.Load() {
		return nil, errTransferred("DataReader.LoadAsync")
	}
	b, err := in.ls.s.InputStream().ReadBuffer(context.Background(), n, opts)
	var data []byte
	if b != nil {
		data = append([]byte(nil), b.Bytes()...)
		b.Release()
	}
	if err == io.EOF {
		err = nil
	}
	return data, err
}

// memInput is an input stream over bytes in memory: what
// args:GetDataStream() returns for a received datagram. ReadAsync and a
// DataReader's LoadAsync consume it; both complete at once.
type memInput struct {
	v    *vm
	data []byte // never written to: it may be shared with readers
	off  int
}

func (*memInput) immediate() bool { return true }
func (*memInput) cancelLoad()     {}

func (m *memInput) loadNow(n int) []byte {
	n = min(n, len(m.data)-m.off)
	b := m.data[m.off : m.off+n : m.off+n]
	m.off += n
	return b
}

func (m *memInput) load(n int, _ bool) ([]byte, error) { return m.loadNow(n), nil }

var memInputClass = &class{
	name: "MessageInputStream",
	methods: map[string]glua.LGFunction{
		// ReadAsync(count [, options]) returns up to count bytes as a
		// string, "" at the end, as a StreamSocket's InputStream does.
		"ReadAsync": func(L *glua.LState) int {
			const m = "MessageInputStream:ReadAsync"
			in := self[*memInput](L, m)
			count := int(argInt(L, 2, m, "count", 1, maxDataBuffer))
			optInt(L, 3, m, "options", 0, 3, 1)
			L.Push(in.v.doneLocked(L, m, []glua.LValue{glua.LString(in.loadNow(count))}, nil).ud)
			return 1
		},
	},
	tostring: func(o any) string {
		in := o.(*memInput)
		return fmt.Sprintf("MessageInputStream (%d of %d bytes left)", len(in.data)-in.off, len(in.data))
	},
}

// dataReader is a DataReader. Its fields are guarded by the state's lock.
type dataReader struct {
	v       *vm
	src     inputSource // nil once detached or closed
	srcUD   glua.LValue // what DetachStream returns
	buf     []byte      // buf[off:] is unconsumed
	off     int
	shared  bool // buf is shared (a datagram's payload): never written in place
	opts    int64
	order   int64
	enc     int64
	loading bool
	closed  bool
}

func newDataReader(v *vm, src inputSource, srcUD glua.LValue) *dataReader {
	return &dataReader{v: v, src: src, srcUD: srcUD, order: bigEndian, enc: utf8Encoding}
}

// argInputStream returns argument n as a source for a DataReader.
func argInputStream(L *glua.LState, n int, method, arg string) (inputSource, glua.LValue) {
	if ud, ok := L.Get(n).(*glua.LUserData); ok {
		switch s := ud.Value.(type) {
		case *lStreamSocket:
			if ud == s.input {
				return socketInput{s}, ud
			}
		case inputSource:
			return s, ud
		}
	}
	raiseArg(L, method, n, arg, "an input stream expected (a StreamSocket's InputStream, or args:GetDataStream()), got %s", typeName(L.Get(n)))
	return nil, nil
}

func dataReaderModule(v *vm, L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		src, ud := argInputStream(L, 1, "DataReader.new", "inputStream")
		L.Push(newObject(L, dataReaderClass, newDataReader(v, src, ud)))
		return 1
	}))
	return t
}

// unconsumed returns the number of loaded bytes not read yet.
func (r *dataReader) unconsumed() int { return len(r.buf) - r.off }

// take consumes n bytes, raising E_BOUNDS if fewer are loaded.
func (r *dataReader) take(L *glua.LState, method string, n int) []byte {
	if r.closed {
		raiseClosed(L, method)
	}
	if avail := r.unconsumed(); n > avail {
		raiseBounds(L, method, n, avail)
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	if r.off == len(r.buf) && !r.shared {
		r.buf, r.off = r.buf[:0], 0
	}
	return b
}

// appendLoaded adds loaded bytes (not retained: they are copied) to the
// buffer.
func (r *dataReader) appendLoaded(data []byte) {
	if len(data) == 0 {
		return
	}
	rest := r.buf[r.off:]
	switch {
	case len(rest) == 0 && !r.shared && cap(r.buf) >= len(data) && cap(r.buf) <= 4*len(data):
		r.buf = append(r.buf[:0], data...)
	case len(rest) == 0:
		r.buf = append([]byte(nil), data...)
		r.shared = false
	case !r.shared && cap(r.buf)-len(r.buf) >= len(data):
		r.buf = append(r.buf, data...)
		return
	default:
		nb := make([]byte, len(rest), 2*(len(rest)+len(data)))
		copy(nb, rest)
		r.buf = append(nb, data...)
		r.shared = false
	}
	r.off = 0
}

func (r *dataReader) byteOrder() binary.ByteOrder {
	if r.order == littleEndian {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

func readerMethod(name string, fn func(L *glua.LState, r *dataReader, m string) int) glua.LGFunction {
	m := "DataReader:" + name
	return func(L *glua.LState) int { return fn(L, self[*dataReader](L, m), m) }
}

// readFixed builds a Read method for a fixed-size value.
func readFixed(name string, size int, conv func(r *dataReader, b []byte) glua.LValue) glua.LGFunction {
	return readerMethod(name, func(L *glua.LState, r *dataReader, m string) int {
		L.Push(conv(r, r.take(L, m, size)))
		return 1
	})
}

var dataReaderClass = &class{
	name: "DataReader",
	methods: map[string]glua.LGFunction{
		"LoadAsync": readerMethod("LoadAsync", func(L *glua.LState, r *dataReader, m string) int {
			count := int(argInt(L, 2, m, "count", 0, maxDataBuffer))
			switch {
			case r.closed:
				raiseClosed(L, m)
			case r.src == nil:
				raiseIllegal(L, m, "the stream was detached")
			case r.loading:
				raiseIllegal(L, m, "a LoadAsync is already in progress; await it first")
			case r.unconsumed()+count > maxDataBuffer:
				raiseArg(L, m, 2, "count", "%d more bytes would take the buffer past its limit of %d bytes (%d unconsumed)",
					count, maxDataBuffer, r.unconsumed())
			}
			v := r.v
			if count == 0 || r.src.immediate() {
				data := r.src.loadNow(count)
				r.appendLoaded(data)
				L.Push(v.doneLocked(L, m, []glua.LValue{glua.LNumber(len(data))}, nil).ud)
				return 1
			}
			r.loading = true
			src, partial := r.src, r.opts&1 != 0
			op := v.newOperationLocked(L, m)
			op.cancel = src.cancelLoad
			v.addJobLocked(job{run: func() []job {
				data, err := src.load(count, partial)
				v.mu.Lock()
				defer v.mu.Unlock()
				r.loading = false
				if !r.closed {
					r.appendLoaded(data)
				}
				v.completeLocked(op, []glua.LValue{glua.LNumber(len(data))}, err)
				return v.takeJobsLocked()
			}})
			L.Push(op.ud)
			return 1
		}),
		"ReadByte": readFixed("ReadByte", 1, func(_ *dataReader, b []byte) glua.LValue { return glua.LNumber(b[0]) }),
		"ReadBoolean": readFixed("ReadBoolean", 1, func(_ *dataReader, b []byte) glua.LValue {
			return glua.LBool(b[0] != 0)
		}),
		"ReadUInt16": readFixed("ReadUInt16", 2, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(r.byteOrder().Uint16(b))
		}),
		"ReadInt16": readFixed("ReadInt16", 2, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(int16(r.byteOrder().Uint16(b)))
		}),
		"ReadUInt32": readFixed("ReadUInt32", 4, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(r.byteOrder().Uint32(b))
		}),
		"ReadInt32": readFixed("ReadInt32", 4, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(int32(r.byteOrder().Uint32(b)))
		}),
		"ReadUInt64": readFixed("ReadUInt64", 8, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(r.byteOrder().Uint64(b))
		}),
		"ReadInt64": readFixed("ReadInt64", 8, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(int64(r.byteOrder().Uint64(b)))
		}),
		"ReadSingle": readFixed("ReadSingle", 4, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(math.Float32frombits(r.byteOrder().Uint32(b)))
		}),
		"ReadDouble": readFixed("ReadDouble", 8, func(r *dataReader, b []byte) glua.LValue {
			return glua.LNumber(math.Float64frombits(r.byteOrder().Uint64(b)))
		}),
		"ReadBytes": readerMethod("ReadBytes", func(L *glua.LState, r *dataReader, m string) int {
			n := int(argInt(L, 2, m, "length", 0, maxDataBuffer))
			L.Push(glua.LString(r.take(L, m, n)))
			return 1
		}),
		"ReadString": readerMethod("ReadString", func(L *glua.LState, r *dataReader, m string) int {
			n := int(argInt(L, 2, m, "codeUnitCount", 0, maxDataBuffer))
			if r.enc == utf8Encoding {
				L.Push(glua.LString(r.take(L, m, n)))
				return 1
			}
			b := r.take(L, m, 2*n)
			order := binary.ByteOrder(binary.LittleEndian)
			if r.enc == utf16BEEncoding {
				order = binary.BigEndian
			}
			L.Push(glua.LString(decodeUTF16(b, order)))
			return 1
		}),
		"DetachStream": readerMethod("DetachStream", func(L *glua.LState, r *dataReader, m string) int {
			switch {
			case r.closed:
				raiseClosed(L, m)
			case r.loading:
				raiseIllegal(L, m, "a LoadAsync is in progress")
			}
			ud := r.srcUD
			r.src, r.srcUD = nil, nil
			if ud == nil {
				ud = glua.LNil
			}
			L.Push(ud)
			return 1
		}),
		"Close": readerMethod("Close", func(L *glua.LState, r *dataReader, m string) int {
			r.closed = true
			r.src, r.srcUD = nil, nil
			r.buf, r.off, r.shared = nil, 0, false
			return 0
		}),
	},
	getters: map[string]getter{
		"UnconsumedBufferLength": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*dataReader).unconsumed()) },
		"InputStreamOptions":     func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*dataReader).opts) },
		"ByteOrder":              func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*dataReader).order) },
		"UnicodeEncoding":        func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*dataReader).enc) },
	},
	setters: map[string]setter{
		"InputStreamOptions": func(L *glua.LState, o any, v glua.LValue) {
			o.(*dataReader).opts = valueInt(L, "DataReader.InputStreamOptions", v, 0, 3)
		},
		"ByteOrder": func(L *glua.LState, o any, v glua.LValue) {
			o.(*dataReader).order = valueInt(L, "DataReader.ByteOrder", v, 0, 1)
		},
		"UnicodeEncoding": func(L *glua.LState, o any, v glua.LValue) {
			o.(*dataReader).enc = valueInt(L, "DataReader.UnicodeEncoding", v, 0, 2)
		},
	},
	tostring: func(o any) string {
		return fmt.Sprintf("DataReader (%d bytes unconsumed)", o.(*dataReader).unconsumed())
	},
}

// decodeUTF16 converts UTF-16 code units to UTF-8; a lone surrogate
// becomes U+FFFD.
func decodeUTF16(b []byte, order binary.ByteOrder) string {
	var sb strings.Builder
	sb.Grow(len(b) / 2)
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(order.Uint16(b[i:]))
		if utf16.IsSurrogate(u) && i+3 < len(b) {
			if r := utf16.DecodeRune(u, rune(order.Uint16(b[i+2:]))); r != utf8.RuneError {
				sb.WriteRune(r)
				i += 2
				continue
			}
		}
		if utf16.IsSurrogate(u) {
			u = utf8.RuneError
		}
		sb.WriteRune(u)
	}
	return sb.String()
}

// newMessageReader returns a DataReader already loaded with data, whose
// stream is at its end: args:GetDataReader().
func newMessageReader(v *vm, data []byte) *dataReader {
	r := newDataReader(v, &memInput{v: v, data: data, off: len(data)}, nil)
	r.buf, r.shared = data, true
	return r
}
