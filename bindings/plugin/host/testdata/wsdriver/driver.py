"""Drives wsplugin's echo server with Python's websockets (Debian's
python3-websockets, run by /usr/bin/python3) and prints one line per
result, which TestWebSocketServer checks:

    python3 driver.py MSG_URL STREAM_URL
"""

import asyncio
import sys

import websockets


def pattern(n):
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


async def main(msg_url, stream_url):
    async with websockets.connect(msg_url, subprotocols=["chat"], max_size=None) as ws:
        print("proto", ws.subprotocol, flush=True)
        await ws.send("héllo, wörld")
        r = await ws.recv()
        print("text", type(r).__name__, r, flush=True)
        await ws.send(b"\x00\x01\x02\xff")
        r = await ws.recv()
        print("binary", type(r).__name__, r.hex(), flush=True)
        big = pattern(3 << 20)
        await ws.send(big)
        r = await ws.recv()
        print("big", type(r).__name__, len(r), r == big, flush=True)
        await ws.send(["frag", "ment", "ed é"])
        r = await ws.recv()
        print("fragmented", type(r).__name__, r, flush=True)
        await ws.close(4001, "bye")
        print("client close answered", ws.close_code, ws.close_reason, flush=True)
    async with websockets.connect(msg_url) as ws:
        await ws.send("close 4002 done")
        try:
            await ws.recv()
            print("server close: none", flush=True)
        except websockets.ConnectionClosed as e:
            print("server close", e.rcvd.code, e.rcvd.reason, flush=True)
    async with websockets.connect(stream_url, max_size=None) as ws:
        await ws.send(b"stream bytes")
        got = b""
        while len(got) < 12:
            got += await ws.recv()
        print("stream", got.decode(), flush=True)
    print("done", flush=True)


asyncio.run(main(sys.argv[1], sys.argv[2]))
