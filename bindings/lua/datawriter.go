package lua

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	glua "github.com/yuin/gopher-lua"

	"github.com/netrun/netrun/runtime/socketerror"
)

// outputSink is an output stream a DataWriter can store to, other than a
// StreamSocket's OutputStream: a userdata whose Value implements it (a
// DatagramSocket's output stream, a message stream) can be given to
// DataWriter.new.
type outputSink interface {
	// store writes p off the state's lock and returns the bytes written.
	// On a datagram or message stream one store is one datagram or
	// message. p is the sink's to keep.
	store(p []byte) (int, error)
	// flush returns once every store issued before it has completed.
	flush() error
	// quick reports whether store and flush return promptly (a UDP send),
	// so that they may run on a socket's event goroutine.
	quick() bool
	// cancelStore asks stores in progress to end (op:Cancel()).
	cancelStore()
}

// socketOutput is a StreamSocket's OutputStream as a DataWriter stores to
// it. Stores and flushes do not go through the outputSink methods: they
// join the socket's own ordered write queue (lStreamSocket.writeLocked),
// so that a DataWriter's stores and the socket's WriteAsync calls leave in
// the order they were issued. The methods below only satisfy outputSink.
type socketOutput struct{ ls *lStreamSocket }

// queuedSink is an output stream whose socket keeps one ordered write
// queue: a DataWriter's stores and flushes join it, so that they and the
// socket's own WriteAsync calls leave in the order they were issued. Its
// outputSink methods are not used.
type queuedSink interface {
	outputSink
	// queueLocked queues data (or a flush) and returns its operation.
	queueLocked(L *glua.LState, m, data string, flush bool) *operation
}

// errQueuedSink is what a queuedSink's unused outputSink methods return.
var errQueuedSink = errors.New("netrun: internal error: a queued sink stored directly")

func (o socketOutput) queueLocked(L *glua.LState, m, data string, flush bool) *operation {
	return o.ls.writeLocked(L, m, data, flush)
}

func (o socketOutput) store(p []byte) (int, error) {
	return o.ls.s.OutputStream().Write(context.Background(), p)
}
func (o socketOutput) flush() error { return o.ls.s.OutputStream().Flush(context.Background()) }
func (socketOutput) quick() bool    { return false }
func (o socketOutput) cancelStore() {}

// argOutputStream returns argument n as a sink for a DataWriter; nil if
// the argument is absent (a writer that only builds a buffer).
func argOutputStream(L *glua.LState, n int, method, arg string) (outputSink, glua.LValue) {
	switch a := L.Get(n).(type) {
	case *glua.LNilType:
		return nil, nil
	case *glua.LUserData:
		switch s := a.Value.(type) {
		case *lStreamSocket:
			if a == s.output {
				return socketOutput{s}, a
			}
		case outputSink:
			return s, a
		}
	}
	raiseArg(L, method, n, arg, "an output stream expected (a StreamSocket's or DatagramSocket's OutputStream, or one from GetOutputStreamAsync), got %s",
		typeName(L.Get(n)))
	return nil, nil
}

// dataWriter is a DataWriter. Its fields are guarded by the state's lock.
type dataWriter struct {
	v      *vm
	sink   outputSink // nil if detached, closed or never given
	sinkUD glua.LValue
	buf    []byte
	order  int64
	enc    int64
	closed bool
	busy   bool  // a store or flush is running
	queue  []job // stores and flushes waiting for it, in order
}

func dataWriterModule(v *vm, L *glua.LState) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("new", L.NewFunction(func(L *glua.LState) int {
		sink, ud := argOutputStream(L, 1, "DataWriter.new", "outputStream")
		L.Push(newObject(L, dataWriterClass, &dataWriter{v: v, sink: sink, sinkUD: ud, order: bigEndian, enc: utf8Encoding}))
		return 1
	}))
	return t
}

// grow appends n bytes to the buffer and returns them to be filled.
func (w *dataWriter) grow(L *glua.LState, method string, n int) []byte {
	if w.closed {
		raiseClosed(L, method)
	}
	if len(w.buf)+n > maxDataBuffer {
		L.Error(newObject(L, errorClass, &luaError{
			HResult: eBounds,
			Status:  socketerror.Unknown,
			Message: fmt.Sprintf("%s: %d more bytes would take the buffer past its limit of %d bytes (%d unstored); StoreAsync first",
				method, n, maxDataBuffer, len(w.buf)),
		}), 0)
	}
	l := len(w.buf)
	w.buf = slices.Grow(w.buf, n)[:l+n]
	return w.buf[l:]
}

func (w *dataWriter) byteOrder() binary.ByteOrder {
	if w.order == littleEndian {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// startLocked queues work on the writer's sink: stores and flushes run one
// at a time, in the order they were called.
func (w *dataWriter) startLocked(L *glua.LState, method string, work func(outputSink) (glua.LValue, error)) *operation {
	v := w.v
	sink := w.sink
	op := v.newOperationLocked(L, method)
	op.cancel = sink.cancelStore
	j := job{quick: sink.quick(), run: func() []job {
		res, err := work(sink)
		v.mu.Lock()
		defer v.mu.Unlock()
		w.nextLocked()
		v.completeLocked(op, []glua.LValue{res}, err)
		return v.takeJobsLocked()
	}}
	if w.busy {
		w.queue = append(w.queue, j)
	} else {
		w.busy = true
		v.addJobLocked(j)
	}
	return op
}

// nextLocked starts the next queued store or flush, if any.
func (w *dataWriter) nextLocked() {
	if len(w.queue) == 0 {
		w.busy = false
		return
	}
	j := w.queue[0]
	w.queue[0] = job{}
	w.queue = w.queue[1:]
	w.v.addJobLocked(j)
}

// checkSink raises unless the writer can reach its stream.
func (w *dataWriter) checkSink(L *glua.LState, method string) {
	switch {
	case w.closed:
		raiseClosed(L, method)
	case w.sink == nil:
		raiseIllegal(L, method, "the writer has no stream (it was detached, or made without one)")
	}
}

func writerMethod(name string, fn func(L *glua.LState, w *dataWriter, m string) int) glua.LGFunction {
	m := "DataWriter:" + name
	return func(L *glua.LState) int { return fn(L, self[*dataWriter](L, m), m) }
}

// argNumber returns argument n as a number.
func argNumber(L *glua.LState, n int, method, arg string) float64 {
	num, ok := L.Get(n).(glua.LNumber)
	if !ok {
		raiseArg(L, method, n, arg, "number expected, got %s", typeName(L.Get(n)))
	}
	return float64(num)
}

// argIntegral returns argument n as an integral number in [lo, hi), where
// hi is exclusive so that the 64-bit bounds, which float64 holds exactly
// as powers of two, are checked exactly; rangeText names the range.
func argIntegral(L *glua.LState, n int, method, arg string, lo, hi float64, rangeText string) float64 {
	f := argNumber(L, n, method, arg)
	if f != math.Trunc(f) || math.IsInf(f, 0) {
		raiseArg(L, method, n, arg, "integer expected, got %v", f)
	}
	if f < lo || f >= hi {
		raiseArg(L, method, n, arg, "%v is out of range %s", f, rangeText)
	}
	return f
}

// writeInt builds a Write method for an integer type of size bytes.
func writeInt(name string, size int, lo, hi float64, rangeText string) glua.LGFunction {
	return writerMethod(name, func(L *glua.LState, w *dataWriter, m string) int {
		f := argIntegral(L, 2, m, "value", lo, hi, rangeText)
		var u uint64
		if f < 0 {
			u = uint64(int64(f))
		} else {
			u = uint64(f)
		}
		b := w.grow(L, m, size)
		switch o := w.byteOrder(); size {
		case 1:
			b[0] = byte(u)
		case 2:
			o.PutUint16(b, uint16(u))
		case 4:
			o.PutUint32(b, uint32(u))
		default:
			o.PutUint64(b, u)
		}
		return 0
	})
}

// encodeString converts s to the writer's encoding; false if s is not
// valid UTF-8 and the encoding is UTF-16.
func encodeString(s string, enc int64) ([]byte, int, bool) {
	if enc == utf8Encoding {
		return []byte(s), len(s), true
	}
	if !utf8.ValidString(s) {
		return nil, 0, false
	}
	order := binary.AppendByteOrder(binary.LittleEndian)
	if enc == utf16BEEncoding {
		order = binary.BigEndian
	}
	b := make([]byte, 0, 2*len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = order.AppendUint16(b, uint16(r1))
			b = order.AppendUint16(b, uint16(r2))
		} else {
			b = order.AppendUint16(b, uint16(r))
		}
	}
	return b, len(b) / 2, true
}

// argEncoded returns argument 2 as a string in the writer's encoding and
// its length in code units.
func (w *dataWriter) argEncoded(L *glua.LState, m string) ([]byte, int) {
	s := argString(L, 2, m, "value")
	b, n, ok := encodeString(s, w.enc)
	if !ok {
		raiseArg(L, m, 2, "value", "not valid UTF-8, which UnicodeEncoding %d (UTF-16) needs", w.enc)
	}
	return b, n
}

var dataWriterClass = &class{
	name: "DataWriter",
	methods: map[string]glua.LGFunction{
		"WriteByte": writeInt("WriteByte", 1, 0, 1<<8, "[0, 255]"),
		"WriteBoolean": writerMethod("WriteBoolean", func(L *glua.LState, w *dataWriter, m string) int {
			bv := argBool(L, 2, m, "value")
			b := w.grow(L, m, 1)
			b[0] = 0
			if bv {
				b[0] = 1
			}
			return 0
		}),
		"WriteUInt16": writeInt("WriteUInt16", 2, 0, 1<<16, "[0, 65535]"),
		"WriteInt16":  writeInt("WriteInt16", 2, -1<<15, 1<<15, "[-32768, 32767]"),
		"WriteUInt32": writeInt("WriteUInt32", 4, 0, 1<<32, "[0, 4294967295]"),
		"WriteInt32":  writeInt("WriteInt32", 4, -1<<31, 1<<31, "[-2147483648, 2147483647]"),
		"WriteUInt64": writeInt("WriteUInt64", 8, 0, 1<<64, "[0, 18446744073709551615]"),
		"WriteInt64":  writeInt("WriteInt64", 8, -1<<63, 1<<63, "[-9223372036854775808, 9223372036854775807]"),
		"WriteDouble": writerMethod("WriteDouble", func(L *glua.LState, w *dataWriter, m string) int {
			f := argNumber(L, 2, m, "value")
			w.byteOrder().PutUint64(w.grow(L, m, 8), math.Float64bits(f))
			return 0
		}),
		"WriteSingle": writerMethod("WriteSingle", func(L *glua.LState, w *dataWriter, m string) int {
			f := argNumber(L, 2, m, "value")
			if !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > math.MaxFloat32 {
				raiseArg(L, m, 2, "value", "%v is out of the range of a Single (±%v)", f, float32(math.MaxFloat32))
			}
			w.byteOrder().PutUint32(w.grow(L, m, 4), math.Float32bits(float32(f)))
			return 0
		}),
		"WriteBytes": writerMethod("WriteBytes", func(L *glua.LState, w *dataWriter, m string) int {
			s := argString(L, 2, m, "value")
			copy(w.grow(L, m, len(s)), s)
			return 0
		}),
		"WriteString": writerMethod("WriteString", func(L *glua.LState, w *dataWriter, m string) int {
			b, n := w.argEncoded(L, m)
			copy(w.grow(L, m, len(b)), b)
			L.Push(glua.LNumber(n))
			return 1
		}),
		"MeasureString": writerMethod("MeasureString", func(L *glua.LState, w *dataWriter, m string) int {
			_, n := w.argEncoded(L, m)
			L.Push(glua.LNumber(n))
			return 1
		}),
		"StoreAsync": writerMethod("StoreAsync", func(L *glua.LState, w *dataWriter, m string) int {
			w.checkSink(L, m)
			data := w.buf
			w.buf = nil
			if len(data) == 0 {
				L.Push(w.v.doneLocked(L, m, []glua.LValue{glua.LNumber(0)}, nil).ud)
				return 1
			}
			if q, ok := w.sink.(queuedSink); ok {
				// The writer never touches data again (grow starts a new
				// buffer), so the socket may keep a string view of it.
				L.Push(q.queueLocked(L, m, unsafe.String(&data[0], len(data)), false).ud)
				return 1
			}
			L.Push(w.startLocked(L, m, func(s outputSink) (glua.LValue, error) {
				n, err := s.store(data)
				return glua.LNumber(n), err
			}).ud)
			return 1
		}),
		"FlushAsync": writerMethod("FlushAsync", func(L *glua.LState, w *dataWriter, m string) int {
			w.checkSink(L, m)
			if q, ok := w.sink.(queuedSink); ok {
				L.Push(q.queueLocked(L, m, "", true).ud)
				return 1
			}
			L.Push(w.startLocked(L, m, func(s outputSink) (glua.LValue, error) {
				return glua.LTrue, s.flush()
			}).ud)
			return 1
		}),
		// DetachBuffer returns the unstored bytes as a string and empties
		// the buffer (WinRT's IBuffer is a Lua string).
		"DetachBuffer": writerMethod("DetachBuffer", func(L *glua.LState, w *dataWriter, m string) int {
			if w.closed {
				raiseClosed(L, m)
			}
			L.Push(glua.LString(w.buf))
			w.buf = nil
			return 1
		}),
		"DetachStream": writerMethod("DetachStream", func(L *glua.LState, w *dataWriter, m string) int {
			if w.closed {
				raiseClosed(L, m)
			}
			ud := w.sinkUD
			w.sink, w.sinkUD = nil, nil
			if ud == nil {
				ud = glua.LNil
			}
			L.Push(ud)
			return 1
		}),
		"Close": writerMethod("Close", func(L *glua.LState, w *dataWriter, m string) int {
			w.closed = true
			w.sink, w.sinkUD, w.buf = nil, nil, nil
			return 0
		}),
	},
	getters: map[string]getter{
		"UnstoredBufferLength": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(len(o.(*dataWriter).buf)) },
		"ByteOrder":            func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*dataWriter).order) },
		"UnicodeEncoding":      func(L *glua.LState, o any) glua.LValue { return glua.LNumber(o.(*dataWriter).enc) },
	},
	setters: map[string]setter{
		"ByteOrder": func(L *glua.LState, o any, v glua.LValue) {
			o.(*dataWriter).order = valueInt(L, "DataWriter.ByteOrder", v, 0, 1)
		},
		"UnicodeEncoding": func(L *glua.LState, o any, v glua.LValue) {
			o.(*dataWriter).enc = valueInt(L, "DataWriter.UnicodeEncoding", v, 0, 2)
		},
	},
	tostring: func(o any) string {
		return fmt.Sprintf("DataWriter (%d bytes unstored)", len(o.(*dataWriter).buf))
	},
}
