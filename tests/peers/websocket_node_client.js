#!/usr/bin/env node
// Client for hybi's interop tests, built on WebSocket-Node (npm `websocket` 1.0.35).
//
// Usage: node websocket_node_client.js URL VERSION [SCENARIO[,SCENARIO...]|all]
//   VERSION: 8 (HyBi-08..12) or 13 (RFC 6455), passed as the `webSocketVersion` option.
//
// Each scenario runs on a connection of its own and prints `ok NAME` / `FAIL NAME reason`:
//   text, binary           a few messages each, echoed byte for byte with their type
//   frag-text, frag-binary the library splits the message into 7-byte frames (fragmentOutgoingMessages),
//                          so multi-byte characters are split between frames
//   big-text, big-binary   1 MiB messages
//   ping                   the pong must carry the ping's payload
//   close-1000, close-4001 the close frame the server answers with must carry the same code
// Last line `passed N failed M`; exit status 0 only when every scenario passed.
'use strict';
const crypto = require('crypto');
const { need, bigText, describe, Inbox, runScenarios, pickScenarios } = require('./_deps.js');
const WebSocketClient = need('websocket').client;

const url = process.argv[2];
const version = +process.argv[3];
if (!url || ![8, 13].includes(version)) {
  console.error('usage: node websocket_node_client.js URL 8|13 [SCENARIO[,SCENARIO...]|all]');
  process.exit(2);
}

function open(fragmentSize) {
  return new Promise((resolve, reject) => {
    const client = new WebSocketClient({
      webSocketVersion: version,
      maxReceivedFrameSize: 64 * 2 ** 20,
      maxReceivedMessageSize: 64 * 2 ** 20,
      fragmentOutgoingMessages: !!fragmentSize,
      fragmentationThreshold: fragmentSize || 0x4000,
    });
    client.on('connectFailed', (e) => reject(new Error(`connect failed: ${e.message || e}`)));
    client.on('connect', (conn) => {
      const inbox = new Inbox();
      conn.on('message', (m) => inbox.push(m.type === 'utf8'
        ? { kind: 'message', isBinary: false, data: Buffer.from(m.utf8Data, 'utf8') }
        : { kind: 'message', isBinary: true, data: m.binaryData }));
      conn.on('pong', (data) => inbox.push({ kind: 'pong', data }));
      conn.on('close', (code, desc) => inbox.push({ kind: 'close', code, desc }));
      conn.on('error', (e) => inbox.push({ kind: 'error', error: e }));
      resolve({ conn, inbox });
    });
    client.connect(url, null, 'http://127.0.0.1');
  });
}

async function expectMessage(inbox, want, isBinary) {
  const ev = await inbox.next();
  if (ev.kind !== 'message') throw new Error(`got ${ev.kind} ${ev.code || ''}, want a message`);
  if (ev.isBinary !== isBinary) throw new Error(`got a ${ev.isBinary ? 'binary' : 'text'} message, want ${isBinary ? 'binary' : 'text'}`);
  if (!ev.data.equals(want)) throw new Error(describe(ev.data, want));
}

// Server frames are never masked: walk the raw bytes and return the first close frame's code
// ('none' for an empty body), or undefined when there is no complete close frame.
function closeCodeIn(raw) {
  let i = 0;
  while (i + 2 <= raw.length) {
    const opcode = raw[i] & 0x0f;
    let len = raw[i + 1] & 0x7f, at = i + 2;
    if (len === 126) { len = raw.readUInt16BE(at); at += 2; } else if (len === 127) { len = Number(raw.readBigUInt64BE(at)); at += 8; }
    if (at + len > raw.length) return undefined;
    if (opcode === 0x08) return len >= 2 ? raw.readUInt16BE(at) : 'none';
    i = at + len;
  }
  return undefined;
}

// WebSocket-Node stops parsing input once it has sent its close frame (and then reports our own code), so
// the server's answer is read off the socket: everything it sends after our close.
async function closeWith({ conn, inbox }, code) {
  let raw = Buffer.alloc(0);
  conn.socket.on('data', (chunk) => { raw = Buffer.concat([raw, chunk]); });
  conn.close(code);
  for (;;) {
    const ev = await inbox.next();
    if (ev.kind === 'close') break;
    if (ev.kind === 'error') throw ev.error;
  }
  const got = closeCodeIn(raw);
  if (got === undefined) throw new Error(`connection closed without a close frame from the server (${raw.length} bytes after our close)`);
  if (got !== code) throw new Error(`server answered close code ${got}, want ${code}`);
}

async function echoEach(messages, isBinary, fragmentSize) {
  const c = await open(fragmentSize);
  for (const m of messages) {
    if (isBinary) c.conn.sendBytes(m); else c.conn.sendUTF(m);
    await expectMessage(c.inbox, Buffer.from(m), isBinary);
  }
  await closeWith(c, 1000);
}

const scenarios = {
  text: () => echoEach(['hello', 'h\u00e9llo w\u00f6rld \u20ac \u{1f600}', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65536)], false),
  binary: () => echoEach([Buffer.from([...Array(256).keys()]), Buffer.alloc(80000, 0xff)], true),
  'frag-text': () => echoEach(['fragmented \u20ac\u20ac\u20ac text \u{1f600} across seven-byte frames'], false, 7),
  'frag-binary': () => echoEach([Buffer.from([...Array(100).keys()])], true, 7),
  'big-text': () => echoEach([bigText()], false),
  'big-binary': () => echoEach([crypto.randomBytes(2 ** 20)], true),
  ping: async () => {
    const c = await open();
    for (const p of [Buffer.from('hybi-ping'), Buffer.from([0, 0xff, 0x80]), Buffer.alloc(125, 0x70)]) {
      c.conn.ping(p);
      const ev = await c.inbox.next(5000);
      if (ev.kind !== 'pong') throw new Error(`got ${ev.kind}, want a pong`);
      if (!ev.data.equals(p)) throw new Error(`pong payload ${ev.data.toString('hex')}, want ${p.toString('hex')}`);
    }
    await closeWith(c, 1000);
  },
  'close-1000': async () => {
    const c = await open();
    c.conn.sendUTF('before close');
    await expectMessage(c.inbox, Buffer.from('before close'), false);
    await closeWith(c, 1000);
  },
  'close-4001': async () => {
    const c = await open();
    c.conn.sendUTF('before close');
    await expectMessage(c.inbox, Buffer.from('before close'), false);
    await closeWith(c, 4001);
  },
};

runScenarios(scenarios, pickScenarios(scenarios, process.argv[4]));
