#!/usr/bin/env node
// Echo server for hybi's interop tests, built on Node `ws` 8 (accepts Sec-WebSocket-Version 8 and 13).
//
// Usage: node node_ws_server.js PORT      (PORT 0 picks a free port; listens on 127.0.0.1 only)
// With $HYBI_TLS_CERT and $HYBI_TLS_KEY (PEM files) set, it serves TLS (wss://).
// With $HYBI_DEFLATE=1 it accepts permessage-deflate (ws's `perMessageDeflate: true`; off by default in
// ws servers, so off here too unless asked for).
//
// Every text or binary message is sent back unchanged with its type (ws reassembles fragmented
// messages); ws answers pings and echoes the close code and reason itself. One line per event on stdout:
//   listening PORT | open version=N | extensions VALUE | text NBYTES | binary NBYTES | close CODE REASON
// where VALUE is the Sec-WebSocket-Extensions header the server answered with, or `none`.
'use strict';
const { need, portArg } = require('./_deps.js');
const { WebSocketServer } = need('ws');

const port = portArg('node_ws_server.js PORT');
const { HYBI_TLS_CERT: cert, HYBI_TLS_KEY: key } = process.env;
const tls = cert && key ? require('https').createServer({ cert: require('fs').readFileSync(cert), key: require('fs').readFileSync(key) }) : null;
const perMessageDeflate = process.env.HYBI_DEFLATE === '1';
const opts = { maxPayload: 64 * 2 ** 20, perMessageDeflate };
const wss = tls ? new WebSocketServer({ server: tls, ...opts }) : new WebSocketServer({ host: '127.0.0.1', port, ...opts });
if (tls) tls.listen(port, '127.0.0.1');
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
wss.on('error', (e) => { console.error(`server error: ${e.message}`); process.exit(1); });
// the response's header lines, just before they are sent: note the negotiated extensions
wss.on('headers', (headers, req) => {
  const ext = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  req.hybiExtensions = ext ? ext.slice(ext.indexOf(':') + 1).trim() : 'none';
});
wss.on('connection', (ws, req) => {
  console.log(`open version=${req.headers['sec-websocket-version']}`);
  console.log(`extensions ${req.hybiExtensions || 'none'}`);
  ws.on('message', (data, isBinary) => {
    console.log(`${isBinary ? 'binary' : 'text'} ${data.length}`);
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log(`close ${code} ${reason.toString()}`));
  ws.on('error', (e) => console.log(`error ${e.message}`));
});
