"""A WebSocket peer on Python's websockets package, for netrun's tests.

internal/testpeer/wspeer.go starts it with /usr/bin/python3 (the Debian
package python3-websockets, 10.4 on Debian 12); peer.js is its twin on
Node's ws, and its comment lists the command line, the ready lines and the
commands, which this peer speaks the same way.
"""

import asyncio
import ssl
import sys

try:
    import websockets
    from websockets.frames import OP_PONG, OP_TEXT
    from websockets.legacy.client import WebSocketClientProtocol
    from websockets.legacy.server import WebSocketServerProtocol
except ImportError as e:  # pragma: no cover
    print(f"cannot import websockets ({e}): install the Debian package python3-websockets", flush=True)
    sys.exit(3)


def option(name):
    args = sys.argv
    if "--" + name in args:
        return args[args.index("--" + name) + 1]
    return None


def pattern(n):
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


def split(payload, n):
    size = -(-len(payload) // n)
    return [payload[i * size : (i + 1) * size] for i in range(n)]


class Counting:
    """Counts the pongs that answer no ping of ours (unsolicited ones)."""

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        if frame.opcode == OP_PONG and frame.data not in self.pings:
            self.unsolicited_pongs = getattr(self, "unsolicited_pongs", 0) + 1
        return frame


class ServerProtocol(Counting, WebSocketServerProtocol):
    pass


class ClientProtocol(Counting, WebSocketClientProtocol):
    pass


async def pong_reply(ws, waiter, data):
    await waiter
    await ws.send("pong:" + data)


async def serve(ws, headers):
    tasks = set()
    try:
        async for message in ws:
            if isinstance(message, bytes) or not message.startswith("cmd:"):
                await ws.send(message)
                continue
            words = message[4:].split(" ")
            cmd = words[0]
            if cmd == "frag":
                if words[1] == "binary":
                    payload = pattern(int(words[3]))
                else:
                    payload = " ".join(words[3:])
                await ws.send(split(payload, int(words[2])))
            elif cmd == "big":
                await ws.send(pattern(int(words[1])))
            elif cmd == "close":
                await ws.close(int(words[1]), " ".join(words[2:]))
            elif cmd == "ping":
                waiter = await ws.ping(words[1].encode("latin-1"))
                task = asyncio.ensure_future(pong_reply(ws, waiter, words[1]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif cmd == "pongs":
                await ws.send("pongs:%d" % getattr(ws, "unsolicited_pongs", 0))
            elif cmd == "proto":
                await ws.send("proto:" + (ws.subprotocol or "-"))
            elif cmd == "header":
                await ws.send("header:" + headers.get(words[1], ""))
            elif cmd == "badutf8":
                await ws.write_frame(True, OP_TEXT, b"ok\xff\xfe")
            else:
                await ws.send("unknown command: " + message)
    except websockets.ConnectionClosed:
        pass
    print("closed %d %s" % (ws.close_code, ws.close_reason or ""), flush=True)


async def main():
    protocols = [p for p in (option("protocols") or "").split(",") if p] or None
    if sys.argv[1] == "server":
        context = None
        if option("cert"):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(option("cert"), option("key"))
        server = await websockets.serve(
            lambda ws, path: serve(ws, ws.request_headers),
            "127.0.0.1",
            0,
            subprotocols=protocols,
            max_size=None,
            ssl=context,
            create_protocol=ServerProtocol,
        )
        print("listening %d" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
    elif sys.argv[1] == "client":
        context = None
        if option("ca"):
            context = ssl.create_default_context(cafile=option("ca"))
        ws = await websockets.connect(
            sys.argv[2],
            subprotocols=protocols,
            max_size=None,
            ssl=context,
            create_protocol=ClientProtocol,
        )
        print("open " + (ws.subprotocol or "-"), flush=True)
        await serve(ws, {})
    else:
        print("usage: peer.py server|client URL [options]", file=sys.stderr)
        sys.exit(2)


asyncio.run(main())
