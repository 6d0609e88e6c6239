#!/usr/bin/python3
"""A netrun plugin in Python: a TCP echo server.

It speaks netrun's plugin protocol (bindings/plugin/proto/pluginv1/plugin.proto)
with Debian's python3-grpcio and python3-protobuf and nothing else, as a plugin
in any language would:

  1. check the magic cookie netrun sets;
  2. serve the netrun.plugin.v1.Plugin service and grpc.health.v1.Health
     ("plugin" is SERVING) on a Unix socket, with TLS when netrun asks for
     AutoMTLS (PLUGIN_CLIENT_CERT): a self-signed certificate made with the
     openssl command, client certificates required and checked against
     netrun's;
  3. print go-plugin's handshake line on stdout: 1|1|unix|PATH|grpc|CERT;
  4. serve the Session stream: bind a listener, read what each connection
     sends and write it back, answer pings, stop on Shutdown.

Usage, from a netrun config:

  [[plugin]]
  name = "pyecho"
  command = ["/usr/bin/python3", "plugins/python/echo_plugin.py", "127.0.0.1", "7092"]
  allow = ["loopback"]

Logs go to stderr as JSON lines, which netrun logs with the plugin's name.
"""

import base64
import json
import os
import queue
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "plugin", "proto", "pluginv1"))

import grpc  # noqa: E402
import plugin_pb2 as pb  # noqa: E402

MAGIC_KEY, MAGIC_VALUE = "NETRUN_PLUGIN", "7c4f0e2a-netrun-plugin"
APP_PROTOCOL = 1
READ_COUNT = 65536


def log(level, msg, **attrs):
    rec = {"level": level, "msg": msg}
    rec.update(attrs)
    sys.stderr.write(json.dumps(rec) + "\n")
    sys.stderr.flush()


def make_cert(workdir):
    """A self-signed ECDSA certificate for localhost, usable as a CA (go-plugin
    trusts it as the root of the server's chain), for server and client auth."""
    key, cert = os.path.join(workdir, "key.pem"), os.path.join(workdir, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost/O=netrun plugin",
         "-addext", "subjectAltName=DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement,keyCertSign",
         "-addext", "extendedKeyUsage=serverAuth,clientAuth"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(key, "rb") as f:
        key_pem = f.read()
    with open(cert, "rb") as f:
        cert_pem = f.read()
    return key_pem, cert_pem


def health_check(request, context):
    # grpc.health.v1.HealthCheckResponse{status: SERVING}, encoded by hand:
    # field 1, varint 1.
    return b"\x08\x01"


class Session:
    """One Session stream: a reader thread turns events into commands, which
    the stream's response generator sends in batches."""

    def __init__(self, request_iterator, host, port):
        self.requests = request_iterator
        self.host, self.port = host, port
        self.out = queue.Queue()
        self.next_op = 0
        self.reads = {}  # op -> socket
        self.consumed = {}  # socket -> bytes taken
        self.done = threading.Event()

    def op(self):
        self.next_op += 1
        return self.next_op

    def send(self, *cmds):
        self.out.put(list(cmds))

    def read(self, socket):
        op = self.op()
        self.reads[op] = socket
        return pb.Command(op=op, stream_read=pb.StreamRead(
            socket=socket, count=READ_COUNT, options=1, consumed=self.consumed.get(socket, 0)))

    def run_reader(self):
        try:
            for msg in self.requests:
                cmds = []
                for ev in msg.events:
                    cmds.extend(self.handle(ev))
                if cmds:
                    self.send(*cmds)
                if self.done.is_set():
                    break
        except grpc.RpcError:
            pass
        finally:
            self.done.set()
            self.out.put(None)

    def handle(self, ev):
        kind = ev.WhichOneof("event")
        if kind == "hello":
            log("INFO", "python plugin session", name=ev.hello.plugin_name, instance=ev.hello.instance)
            return [pb.Command(op=self.op(), listener_bind=pb.ListenerBind(host=self.host, service=self.port))]
        if kind == "ping":
            return [pb.Command(pong=pb.Pong(seq=ev.ping.seq))]
        if kind == "shutdown":
            self.done.set()
            return []
        if kind == "connection_received":
            return [self.read(ev.connection_received.socket)]
        if kind == "protocol_error":
            log("ERROR", "the host rejected a command", op=ev.protocol_error.op, err=ev.protocol_error.message)
            return []
        if kind != "completion":
            return []
        c = ev.completion
        result = c.WhichOneof("result")
        if c.op == 1:  # the ListenerBind
            if result == "created":
                log("INFO", "python echo plugin listening", port=c.created.info.local_port)
            else:
                log("ERROR", "bind failed", err=c.error.message, hresult="0x%08X" % c.error.hresult)
            return []
        socket = self.reads.pop(c.op, None)
        if socket is None:  # a write's or close's completion
            if result == "error":
                log("WARN", "operation failed", op=c.op, err=c.error.message)
            return []
        if result == "read" and c.read.data:
            data = c.read.data
            self.consumed[socket] = self.consumed.get(socket, 0) + len(data)
            # A quiet write (op 0) and the next read, in one batch.
            return [pb.Command(stream_write=pb.StreamWrite(socket=socket, data=data, consumed=self.consumed[socket])),
                    self.read(socket)]
        self.consumed.pop(socket, None)
        return [pb.Command(op=self.op(), close=pb.Close(socket=socket))]

    def responses(self):
        threading.Thread(target=self.run_reader, daemon=True).start()
        while True:
            cmds = self.out.get()
            if cmds is None:
                return
            # Batch whatever else is ready.
            while True:
                try:
                    more = self.out.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    yield pb.PluginMessage(commands=cmds)
                    return
                cmds.extend(more)
            yield pb.PluginMessage(commands=cmds)


def main():
    if os.environ.get(MAGIC_KEY) != MAGIC_VALUE:
        sys.stderr.write("This is a netrun plugin: netrun starts it; it does nothing on its own.\n")
        sys.exit(1)
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = sys.argv[2] if len(sys.argv) > 2 else "7092"
    versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", str(APP_PROTOCOL)).split(",")
    if str(APP_PROTOCOL) not in versions:
        log("ERROR", "the host does not speak this plugin's protocol", versions=versions)
        sys.exit(1)

    workdir = tempfile.mkdtemp(prefix="netrun-pyplugin-")
    sock = os.path.join(workdir, "plugin.sock")
    finished = threading.Event()

    def session(request_iterator, context):
        s = Session(request_iterator, host, port)
        try:
            yield from s.responses()
        finally:
            finished.set()

    handlers = [
        grpc.method_handlers_generic_handler("netrun.plugin.v1.Plugin", {
            "Session": grpc.stream_stream_rpc_method_handler(
                session, request_deserializer=pb.HostMessage.FromString,
                response_serializer=pb.PluginMessage.SerializeToString),
        }),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(
                health_check, request_deserializer=lambda b: b, response_serializer=lambda b: b),
        }),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=handlers)
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    cert_field = ""
    if client_cert:
        key_pem, cert_pem = make_cert(workdir)
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert.encode(),
                                            require_client_auth=True)
        server.add_secure_port("unix:" + sock, creds)
        der = ssl.PEM_cert_to_DER_cert(cert_pem.decode())
        cert_field = "|" + base64.b64encode(der).decode().rstrip("=")
    else:
        server.add_insecure_port("unix:" + sock)
    server.start()
    sys.stdout.write("1|%d|unix|%s|grpc%s\n" % (APP_PROTOCOL, sock, cert_field))
    sys.stdout.flush()
    try:
        # The session ending is the plugin's cue to exit; so is the host's
        # going away (stdin closes when netrun dies).
        while not finished.wait(1):
            if os.getppid() == 1:
                break
    finally:
        server.stop(grace=1)
        for f in os.listdir(workdir):
            os.unlink(os.path.join(workdir, f))
        os.rmdir(workdir)


if __name__ == "__main__":
    main()
