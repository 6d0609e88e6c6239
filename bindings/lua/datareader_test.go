package lua_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netrun/netrun/internal/testpeer"
)

// frameScript reads frames (a big-endian UInt32 length, then that many
// bytes) with a DataReader and answers each with a DataWriter: a
// little-endian UInt16 length, then the payload upper-cased.
const frameScript = `
local net = require("netrun")
local listener = net.StreamSocketListener.new()
listener.ConnectionReceived:add(function(sender, args)
	local s = args.Socket
	local r = net.DataReader.new(s.InputStream)
	local w = net.DataWriter.new(s.OutputStream)
	w.ByteOrder = net.ByteOrder.LittleEndian
	-- nothing is loaded yet: a read past the buffer raises E_BOUNDS
	local ok, err = pcall(function() return r:ReadUInt32() end)
	print("bounds", ok, string.format("0x%08X", err.HResult), err.Message)
	while true do
		if r:LoadAsync(4):await() < 4 then break end
		local n = r:ReadUInt32()
		if n > 0 and r:LoadAsync(n):await() < n then break end
		local payload = r:ReadString(n)
		w:WriteUInt16(n)
		w:WriteString(string.upper(payload))
		w:StoreAsync():await()
	end
	s:Close()
end)
listener:BindEndpointAsync("127.0.0.1", "0"):await()
print("listening " .. listener.Information.LocalPort)
`

func frame(payload string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func answer(payload string) []byte {
	return append(binary.LittleEndian.AppendUint16(nil, uint16(len(payload))), strings.ToUpper(payload)...)
}

func TestDataReaderFramingSocat(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "frames.lua", frameScript, 1, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	payloads := []string{"hello", "", "framed world", strings.Repeat("abc", 5000)}
	var in, want bytes.Buffer
	for _, p := range payloads {
		in.Write(frame(p))
		want.Write(answer(p))
	}
	sc := testpeer.StartSocat(t, "-", "TCP4:127.0.0.1:"+port)
	sc.Stdin().Write(in.Bytes())
	sc.WaitOutput(t, "FRAMED WORLD")
	sc.Stdin().Close()
	if err := sc.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := sc.Stdout(); got != want.String() {
		t.Fatalf("socat got %d bytes %q..., want %d bytes", len(got), got[:min(len(got), 40)], want.Len())
	}
	out := h.out.wait(t, "bounds")
	if want := "bounds\tfalse\t0x8000000B\tDataReader:ReadUInt32: 4 bytes needed, 0 available"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// TestDataReaderFramingSplitWrites sends frames cut at awkward places:
// inside the length, between length and payload, several frames in one
// write, one byte at a time.
func TestDataReaderFramingSplitWrites(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "frames.lua", frameScript, 2, nil)
	port := listeningPort(t, h.out.wait(t, "listening "))
	payloads := []string{"a", "split me", "", "the quick brown fox", strings.Repeat("z", 65535), "tail"}
	var stream, want []byte
	for _, p := range payloads {
		stream = append(stream, frame(p)...)
		want = append(want, answer(p)...)
	}
	cuts := [][]int{
		{1, 2, 3, 4, 5},          // through the first length
		{4},                      // after the first length
		{3, 9, 10, 17},           // across the first and second frames
		{len(stream) - 1},        // all but the last byte
		{5, 13, 14, 15, 16, 100}, // a mix
	}
	for i, cut := range cuts {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c, err := net.Dial("tcp4", "127.0.0.1:"+port)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			prev := 0
			for _, at := range append(cut, len(stream)) {
				if _, err := c.Write(stream[prev:at]); err != nil {
					t.Fatal(err)
				}
				prev = at
				time.Sleep(5 * time.Millisecond) // let the script see each piece on its own
			}
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func TestDataReaderWriterArgumentErrors(t *testing.T) {
	h := newHarness(t, 0)
	h.start(t, "args.lua", `
local net = require("netrun")
local s = net.StreamSocket.new()
local r = net.DataReader.new(s.InputStream)
local w = net.DataWriter.new(s.OutputStream)
local function try(label, f, ...)
	-- through a Lua function: netrun's pcall returns false for a Go
	-- function that succeeds (see the report on prelude.lua)
	local ok, err = pcall(function(...) return f(...) end, ...)
	if ok then
		print(label, "no error")
	else
		print(label, string.format("0x%08X", err.HResult), err.Message)
	end
end
try("reader.new", net.DataReader.new, 42)
try("reader.output", net.DataReader.new, s.OutputStream)
try("writer.new", net.DataWriter.new, s.InputStream)
try("readbytes", r.ReadBytes, r, -1)
try("readstring", r.ReadString, r, 1.5)
try("load", r.LoadAsync, r, 64*1024*1024 + 1)
try("byteorder", function() r.ByteOrder = 7 end)
try("encoding", function() w.UnicodeEncoding = "utf8" end)
try("byte", w.WriteByte, w, 256)
try("uint16", w.WriteUInt16, w, 1.5)
try("int16", w.WriteInt16, w, -32769)
try("int64", w.WriteInt64, w, 2^63)
try("uint64", w.WriteUInt64, w, -1)
try("uint64nan", w.WriteUInt64, w, 0/0)
try("single", w.WriteSingle, w, 1e300)
try("string", w.WriteString, w, nil)
try("bool", w.WriteBoolean, w, 1)
w.UnicodeEncoding = net.UnicodeEncoding.Utf16LE
try("utf16", w.WriteString, w, "\255\254")
print("lengths", w:WriteString("h\195\169\240\159\152\128"), w.UnstoredBufferLength, w:MeasureString("abc"))
w.UnicodeEncoding = net.UnicodeEncoding.Utf8
print("utf8", w:WriteString("h\195\169"), w.UnstoredBufferLength)
try("self", r.ReadByte, w)
r:Close()
try("closed", r.ReadByte, r)
print("done")
`, 1, nil)
	out := h.out.wait(t, "done")
	const inv = "0x80070057\t"
	for _, want := range []string{
		"reader.new\t" + inv + "DataReader.new: argument #1 (inputStream): an input stream expected",
		"reader.output\t" + inv + "DataReader.new: argument #1 (inputStream): an input stream expected (a StreamSocket's InputStream, or args:GetDataStream()), got OutputStream",
		"writer.new\t" + inv + "DataWriter.new: argument #1 (outputStream): an output stream expected",
		"readbytes\t" + inv + "DataReader:ReadBytes: argument #2 (length): -1 is out of range",
		"readstring\t" + inv + "DataReader:ReadString: argument #2 (codeUnitCount): integer expected, got 1.5",
		"load\t" + inv + "DataReader:LoadAsync: argument #2 (count): 6.7108865e+07 is out of range",
		"byteorder\t" + inv + "DataReader.ByteOrder: argument #1 (value)",
		"encoding\t" + inv + "DataWriter.UnicodeEncoding: argument #1 (value)",
		"byte\t" + inv + "DataWriter:WriteByte: argument #2 (value): 256 is out of range [0, 255]",
		"uint16\t" + inv + "DataWriter:WriteUInt16: argument #2 (value): integer expected, got 1.5",
		"int16\t" + inv + "DataWriter:WriteInt16: argument #2 (value): -32769 is out of range [-32768, 32767]",
		"int64\t" + inv + "DataWriter:WriteInt64: argument #2 (value): 9.223372036854776e+18 is out of range",
		"uint64\t" + inv + "DataWriter:WriteUInt64: argument #2 (value): -1 is out of range",
		"uint64nan\t" + inv + "DataWriter:WriteUInt64: argument #2 (value): integer expected, got NaN",
		"single\t" + inv + "DataWriter:WriteSingle: argument #2 (value): 1e+300 is out of the range of a Single",
		"string\t" + inv + "DataWriter:WriteString: argument #2 (value): string expected, got nil",
		"bool\t" + inv + "DataWriter:WriteBoolean: argument #2 (value): boolean expected, got number",
		"utf16\t" + inv + "DataWriter:WriteString: argument #2 (value): not valid UTF-8",
		"lengths\t4\t8\t3",
		"utf8\t3\t11",
		"self\t",
		"closed\t0x80000013\t",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
