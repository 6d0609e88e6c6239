// A WebSocket peer on Node's ws package, for netrun's interop tests.
// internal/testpeer/wspeer.go starts it; peer.py is its twin on Python's
// websockets, speaking the same commands.
//
//   node peer.js server [--protocols a,b] [--cert FILE --key FILE]
//   node peer.js client URL [--protocols a,b] [--ca FILE]
//
// A server prints "listening PORT" once it listens on 127.0.0.1 (port 0:
// the kernel chooses). A client prints "open PROTOCOL" ("-" for none) once
// connected. Every connection echoes each message with its type, except
// text messages starting with "cmd:", which are commands:
//
//   cmd:frag text N TEXT     send TEXT as a text message in N frames
//   cmd:frag binary N SIZE   send SIZE pattern bytes as binary in N frames
//   cmd:big SIZE             send SIZE pattern bytes as one binary message
//   cmd:close CODE REASON    close with CODE and REASON
//   cmd:ping DATA            ping with DATA; answer "pong:DATA" on its pong
//   cmd:pongs                answer "pongs:N", the unsolicited pongs seen
//   cmd:proto                answer "proto:P", the negotiated subprotocol
//   cmd:header NAME          answer "header:VALUE" from the handshake
//   cmd:badutf8              send a text frame that is not UTF-8
//
// When a connection closes it prints "closed CODE REASON"; a client then
// exits. Pattern byte i is (i*7 + floor(i/251)) & 0xff, as in the tests.
'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocket, WebSocketServer } = require('ws');

function option(name) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + Math.floor(i / 251)) & 0xff;
  return b;
}

function split(buf, n) {
  const parts = [];
  const size = Math.ceil(buf.length / n);
  for (let i = 0; i < n; i++) parts.push(buf.subarray(i * size, Math.min(buf.length, (i + 1) * size)));
  return parts;
}

function serve(ws, headers) {
  let pongs = 0;
  const pings = new Set();
  ws.on('pong', (data) => {
    const key = data.toString('latin1');
    if (pings.has(key)) {
      pings.delete(key);
      ws.send('pong:' + key);
    } else {
      pongs++;
    }
  });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === null || !text.startsWith('cmd:')) {
      ws.send(data, { binary: isBinary });
      return;
    }
    const words = text.slice(4).split(' ');
    switch (words[0]) {
      case 'frag': {
        const binary = words[1] === 'binary';
        const payload = binary ? pattern(Number(words[3])) : Buffer.from(words.slice(3).join(' '), 'utf8');
        const parts = split(payload, Number(words[2]));
        parts.forEach((p, i) => ws.send(p, { binary, fin: i === parts.length - 1 }));
        break;
      }
      case 'big':
        ws.send(pattern(Number(words[1])), { binary: true });
        break;
      case 'close':
        ws.close(Number(words[1]), words.slice(2).join(' '));
        break;
      case 'ping':
        pings.add(words[1]);
        ws.ping(Buffer.from(words[1], 'latin1'));
        break;
      case 'pongs':
        ws.send('pongs:' + pongs);
        break;
      case 'proto':
        ws.send('proto:' + (ws.protocol || '-'));
        break;
      case 'header':
        ws.send('header:' + (headers[words[1].toLowerCase()] || ''));
        break;
      case 'badutf8':
        ws.send(Buffer.from([0x6f, 0x6b, 0xff, 0xfe]), { binary: false });
        break;
      default:
        ws.send('unknown command: ' + text);
    }
  });
  ws.on('error', (err) => console.error('error', err.message));
}

const protocols = (option('protocols') || '').split(',').filter((p) => p);

if (process.argv[2] === 'server') {
  const opts = {
    maxPayload: 64 << 20,
    handleProtocols: (offered) => protocols.find((p) => offered.has(p)) || false,
  };
  let listener;
  if (option('cert')) {
    listener = https.createServer({ cert: fs.readFileSync(option('cert')), key: fs.readFileSync(option('key')) });
    opts.server = listener;
  } else {
    opts.port = 0;
    opts.host = '127.0.0.1';
  }
  const wss = new WebSocketServer(opts);
  wss.on('connection', (ws, req) => {
    ws.on('close', (code, reason) => console.log('closed ' + code + ' ' + reason.toString()));
    serve(ws, req.headers);
  });
  if (listener) {
    listener.listen(0, '127.0.0.1', () => console.log('listening ' + listener.address().port));
  } else {
    wss.on('listening', () => console.log('listening ' + wss.address().port));
  }
} else if (process.argv[2] === 'client') {
  const opts = { maxPayload: 64 << 20 };
  if (option('ca')) opts.ca = fs.readFileSync(option('ca'));
  const ws = new WebSocket(process.argv[3], protocols, opts);
  ws.on('open', () => console.log('open ' + (ws.protocol || '-')));
  ws.on('close', (code, reason) => {
    console.log('closed ' + code + ' ' + reason.toString());
    process.exit(0);
  });
  serve(ws, {});
} else {
  console.error('usage: node peer.js server|client URL [options]');
  process.exit(2);
}
