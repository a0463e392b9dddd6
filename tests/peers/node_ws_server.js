#!/usr/bin/env node
// Echo server for hybi's interop tests, built on Node `ws` 8 (accepts Sec-WebSocket-Version 8 and 13).
//
// Usage: node node_ws_server.js PORT      (PORT 0 picks a free port; listens on 127.0.0.1 only)
// With $HYBI_TLS_CERT and $HYBI_TLS_KEY (PEM files) set, it serves TLS (wss://).
//
// Every text or binary message is sent back unchanged with its type (ws reassembles fragmented
// messages); ws answers pings and echoes the close code and reason itself. One line per event on stdout:
//   listening PORT | open version=N | text NBYTES | binary NBYTES | close CODE REASON
'use strict';
const { need, portArg } = require('./_deps.js');
const { WebSocketServer } = need('ws');

const port = portArg('node_ws_server.js PORT');
const { HYBI_TLS_CERT: cert, HYBI_TLS_KEY: key } = process.env;
const tls = cert && key ? require('https').createServer({ cert: require('fs').readFileSync(cert), key: require('fs').readFileSync(key) }) : null;
const wss = tls ? new WebSocketServer({ server: tls, maxPayload: 64 * 2 ** 20 }) : new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 64 * 2 ** 20 });
if (tls) tls.listen(port, '127.0.0.1');
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
wss.on('error', (e) => { console.error(`server error: ${e.message}`); process.exit(1); });
wss.on('connection', (ws, req) => {
  console.log(`open version=${req.headers['sec-websocket-version']}`);
  ws.on('message', (data, isBinary) => {
    console.log(`${isBinary ? 'binary' : 'text'} ${data.length}`);
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log(`close ${code} ${reason.toString()}`));
  ws.on('error', (e) => console.log(`error ${e.message}`));
});
