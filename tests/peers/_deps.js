// Shared by the Node peer drivers: loads a package from the test dependencies that
// scripts/install-test-deps.sh puts in ${HYBI_DEPS:-~/.cache/hybi-deps}/node/node_modules
// (or from NODE_PATH), and fails loudly when it is not there.
'use strict';
const path = require('path');
const os = require('os');

function depsRoot() {
  return process.env.HYBI_DEPS || path.join(os.homedir(), '.cache', 'hybi-deps');
}

function need(name) {
  const paths = [path.join(depsRoot(), 'node', 'node_modules')];
  if (process.env.NODE_PATH) paths.push(...process.env.NODE_PATH.split(path.delimiter));
  let resolved;
  try {
    resolved = require.resolve(name, { paths });
  } catch (e) {
    console.error(`missing Node package '${name}' (looked in ${paths.join(', ')}): run scripts/install-test-deps.sh`);
    process.exit(2);
  }
  return require(resolved);
}

// Exactly 2**20 bytes of UTF-8 with 1-, 2-, 3- and 4-byte characters.
function bigText() {
  const unit = 'hybi \u00e9\u00e8 \u20ac \u{1d11e} 0123456789 ';
  const n = Math.floor(2 ** 20 / Buffer.byteLength(unit));
  const text = unit.repeat(n);
  return text + 'x'.repeat(2 ** 20 - Buffer.byteLength(text));
}

// Where two payloads first differ, for failure messages.
function describe(got, want) {
  if (got.length !== want.length) return `echo has ${got.length} bytes, want ${want.length}`;
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return `echo differs at byte ${i}`;
  return 'echo matches';
}

// An event queue over an emitter: `next()` resolves with the next queued event, or rejects after `ms`.
class Inbox {
  constructor() { this.items = []; this.waiters = []; }
  push(ev) { const w = this.waiters.shift(); if (w) w(ev); else this.items.push(ev); }
  next(ms = 10000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); reject(new Error(`nothing received for ${ms} ms`)); }, ms);
      const w = (ev) => { clearTimeout(t); resolve(ev); };
      this.waiters.push(w);
    });
  }
}

// Runs named async scenarios one after another, printing `ok NAME` / `FAIL NAME reason` and a final
// `passed N failed M`; exits 0 only when all passed. Each scenario gets `timeoutMs`.
async function runScenarios(table, names, timeoutMs = 20000) {
  let passed = 0, failed = 0;
  for (const name of names) {
    let timer;
    try {
      await Promise.race([
        table[name](),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs); }),
      ]);
      console.log(`ok ${name}`);
      passed++;
    } catch (e) {
      console.log(`FAIL ${name} ${e && e.message ? e.message : e}`);
      failed++;
    } finally {
      clearTimeout(timer);
    }
  }
  console.log(`passed ${passed} failed ${failed}`);
  process.exit(failed === 0 ? 0 : 1);
}

function pickScenarios(table, arg) {
  const names = !arg || arg === 'all' ? Object.keys(table) : arg.split(',');
  const unknown = names.filter((n) => !(n in table));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(' ')}; known: ${Object.keys(table).join(' ')}`);
    process.exit(2);
  }
  return names;
}

// Parses a PORT argument (0 = any free port) or exits with the usage line.
function portArg(usage) {
  const a = process.argv[2];
  if (process.argv.length !== 3 || !/^\d+$/.test(a)) { console.error(`usage: ${usage}`); process.exit(2); }
  return +a;
}

module.exports = { need, bigText, describe, Inbox, runScenarios, pickScenarios, portArg };
