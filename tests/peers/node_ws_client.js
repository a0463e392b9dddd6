#!/usr/bin/env node
// Client for hybi's interop tests, built on Node `ws` 8.
//
// Usage: node node_ws_client.js URL [VERSION [SCENARIO[,SCENARIO...]|all]]
//   VERSION: 13 (RFC 6455, default) or 8 (HyBi-08..12), passed as ws's `protocolVersion` option.
//   wss:// URLs trust the CA certificate in the PEM file $HYBI_TLS_CA when set (else Node's CAs).
//
// Each scenario runs on a connection of its own and prints `ok NAME` / `FAIL NAME reason`:
//   text, binary          a few messages each, every echo must match byte for byte and keep its type
//   frag-text             a text message in several frames (ws `fin: false`), a multi-byte character split
//   frag-binary           a binary message in several frames
//   big-text, big-binary  1 MiB messages
//   ping                  pings whose pongs must carry the same payload
//   close-1000, close-4001  the peer must answer the close with the same code
// Not part of `all` (for crates/hybi-cli/tests/interop_deflate.rs):
//   deflate               text (small, multi-byte, empty, 4 KiB of varied text, 256 KiB of repeated text) and
//                         binary (all 256 byte values, empty, 256 KiB of a repeated pattern) messages
//   compressible          one 256 KiB text message of repeated text (easy to compress)
// Each connection also prints `extensions VALUE`: the Sec-WebSocket-Extensions header the server answered
// with, or `none`. Compression is offered (ws clients' default: `perMessageDeflate: true`).
// Last line `passed N failed M`; exit status 0 only when every scenario passed.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { need, bigText, describe, Inbox, runScenarios, pickScenarios } = require('./_deps.js');
const WebSocket = need('ws');

const url = process.argv[2];
const version = +(process.argv[3] || 13);
if (!url || ![8, 13].includes(version)) {
  console.error('usage: node node_ws_client.js URL [8|13 [SCENARIO[,SCENARIO...]|all]]');
  process.exit(2);
}

function open() {
  return new Promise((resolve, reject) => {
    const ca = process.env.HYBI_TLS_CA ? fs.readFileSync(process.env.HYBI_TLS_CA) : undefined;
    const ws = new WebSocket(url, { protocolVersion: version, origin: 'http://127.0.0.1', maxPayload: 64 * 2 ** 20, ca });
    const inbox = new Inbox();
    ws.once('upgrade', (res) => console.log(`extensions ${res.headers['sec-websocket-extensions'] || 'none'}`));
    ws.on('message', (data, isBinary) => inbox.push({ kind: 'message', data, isBinary }));
    ws.on('pong', (data) => inbox.push({ kind: 'pong', data }));
    ws.on('close', (code, reason) => inbox.push({ kind: 'close', code, reason: reason.toString() }));
    ws.on('error', (e) => inbox.push({ kind: 'error', error: e }));
    ws.once('open', () => resolve({ ws, inbox }));
    ws.once('error', reject);
  });
}

async function expectMessage(inbox, want, isBinary) {
  const ev = await inbox.next();
  if (ev.kind !== 'message') throw new Error(`got ${ev.kind} ${ev.code || (ev.error && ev.error.message) || ''}, want a message`);
  if (ev.isBinary !== isBinary) throw new Error(`got a ${ev.isBinary ? 'binary' : 'text'} message, want ${isBinary ? 'binary' : 'text'}`);
  if (!ev.data.equals(want)) throw new Error(describe(ev.data, want));
}

async function closeWith(conn, code, reason) {
  conn.ws.close(code, reason);
  for (;;) {
    const ev = await conn.inbox.next();
    if (ev.kind === 'close') {
      if (ev.code !== code) throw new Error(`peer closed with ${ev.code}, want ${code}`);
      return;
    }
    if (ev.kind === 'error') throw ev.error;
  }
}

async function echoEach(messages, isBinary) {
  const conn = await open();
  for (const m of messages) {
    conn.ws.send(m, { binary: isBinary });
    await expectMessage(conn.inbox, Buffer.from(m), isBinary);
  }
  await closeWith(conn, 1000);
}

async function echoFragments(fragments, isBinary) {
  const conn = await open();
  fragments.forEach((f, i) => conn.ws.send(f, { binary: isBinary, fin: i === fragments.length - 1, compress: false }));
  await expectMessage(conn.inbox, Buffer.concat(fragments), isBinary);
  await closeWith(conn, 1000);
}

const scenarios = {
  text: () => echoEach(['hello', 'h\u00e9llo w\u00f6rld \u20ac \u{1f600}', '', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65536)], false),
  binary: () => echoEach([Buffer.from([...Array(256).keys()]), Buffer.alloc(0), Buffer.alloc(80000, 0xff)], true),
  'frag-text': () => echoFragments([Buffer.from('frag'), Buffer.from('ment'), Buffer.from([0x65, 0x64, 0x20, 0xe2, 0x82]), Buffer.from([0xac, 0x21])], false),
  'frag-binary': () => echoFragments([Buffer.from([0, 1]), Buffer.from([2]), Buffer.alloc(0), Buffer.alloc(200, 0xfe)], true),
  'big-text': () => echoEach([bigText()], false),
  'big-binary': () => echoEach([crypto.randomBytes(2 ** 20)], true),
  ping: async () => {
    const conn = await open();
    for (const p of [Buffer.from('hybi-ping'), Buffer.from([0, 0xff, 0x80]), Buffer.alloc(0), Buffer.alloc(125, 0x70)]) {
      conn.ws.ping(p);
      const ev = await conn.inbox.next(5000);
      if (ev.kind !== 'pong') throw new Error(`got ${ev.kind}, want a pong`);
      if (!ev.data.equals(p)) throw new Error(`pong payload ${ev.data.toString('hex')}, want ${p.toString('hex')}`);
    }
    await closeWith(conn, 1000);
  },
  'close-1000': async () => {
    const conn = await open();
    conn.ws.send('before close');
    await expectMessage(conn.inbox, Buffer.from('before close'), false);
    await closeWith(conn, 1000);
  },
  'close-4001': async () => {
    const conn = await open();
    conn.ws.send('before close');
    await expectMessage(conn.inbox, Buffer.from('before close'), false);
    await closeWith(conn, 4001, 'hybi says bye');
  },
};

// Exactly 2**18 bytes (256 KiB) of repeated ASCII text.
function compressibleText() {
  const unit = 'hybi permessage-deflate interop: the quick brown fox jumps over the lazy dog. ';
  return unit.repeat(Math.ceil(2 ** 18 / unit.length)).slice(0, 2 ** 18);
}

// n bytes of printable ASCII that compresses poorly (a fixed linear congruential sequence).
function variedText(n) {
  let x = 12345, out = '';
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    out += String.fromCharCode(33 + ((x >>> 16) % 94));
  }
  return out;
}

// run only when named
const extra = {
  deflate: async () => {
    await echoEach(['hello deflate', 'h\u00e9llo w\u00f6rld \u20ac \u{1f600}', '', variedText(4096), compressibleText()], false);
    const pattern = Buffer.from([...Array(64).keys()]);
    await echoEach([Buffer.from([...Array(256).keys()]), Buffer.alloc(0), Buffer.concat(Array(4096).fill(pattern))], true);
  },
  compressible: () => echoEach([compressibleText()], false),
};

const arg = process.argv[4];
const table = !arg || arg === 'all' ? scenarios : { ...scenarios, ...extra };
runScenarios(table, pickScenarios(table, arg));
