#!/usr/bin/env node
// Echo server for hybi's interop tests, built on faye's websocket-driver 0.7.4 (Node), which detects
// Hixie-75, Hixie-76 and RFC 6455 (Sec-WebSocket-Version 13 only; 8 is refused with 400).
//
// Usage: node faye_server.js PORT      (PORT 0 picks a free port; listens on 127.0.0.1 only)
//
// We own the TCP side; the driver parses the handshake and frames. Text comes back as text, binary as
// binary; the driver answers pings and close frames (with the received code); the TCP connection is
// ended when the driver closes or the client half-closes. One line per event on stdout:
//   listening PORT | open version=V | text NBYTES | binary NBYTES | close CODE REASON | error ...
'use strict';
const net = require('net');
const { need, portArg } = require('./_deps.js');
const websocket = need('websocket-driver');

const port = portArg('node faye_server.js PORT');
const server = net.createServer((conn) => {
  const driver = websocket.server({ maxLength: 64 * 2 ** 20 });
  driver.on('connect', () => {
    if (websocket.isWebSocket(driver)) driver.start();
    else { console.log('error not a WebSocket request'); conn.end('HTTP/1.1 400 Bad Request\r\n\r\n'); }
  });
  driver.on('open', () => console.log(`open version=${driver.version}`));
  driver.on('message', (ev) => {
    if (typeof ev.data === 'string') {
      console.log(`text ${Buffer.byteLength(ev.data)}`);
      driver.text(ev.data);
    } else {
      console.log(`binary ${ev.data.length}`);
      driver.binary(ev.data);
    }
  });
  driver.on('error', (e) => console.log(`error ${e.message}`));
  driver.on('close', (ev) => { console.log(`close ${ev.code} ${ev.reason || ''}`); conn.end(); });
  conn.on('data', (chunk) => driver.parse(chunk));
  driver.io.on('data', (chunk) => conn.write(chunk));
  conn.on('end', () => conn.end());
  conn.on('error', (e) => console.log(`error socket ${e.message}`));
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
