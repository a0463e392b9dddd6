#!/usr/bin/env node
// End-to-end check of `hybi serve`'s demo page in a real browser: Debian's chromium, headless,
// driven by playwright-core (both installed by scripts/install-test-deps.sh).
//
// Usage: node demo_test.js URL SCREENSHOT_DIR
//   URL             the page, e.g. http://127.0.0.1:9002/ (hybi serve answers plain GETs with it)
//   SCREENSHOT_DIR  where demo.png (after the echoes) and demo-closed.png (after closing) go
//
// Steps print `ok STEP` / `FAIL STEP reason`; the last line is `passed N failed M`; exit status 0
// only when every step passed. $HYBI_CHROMIUM overrides the browser (default /usr/bin/chromium).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { need } = require('../peers/_deps.js');

const [url, shotDir] = process.argv.slice(2);
if (!url || !shotDir) {
  console.error('usage: node demo_test.js URL SCREENSHOT_DIR');
  process.exit(2);
}
const executablePath = process.env.HYBI_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(executablePath)) {
  console.error(`chromium not found at ${executablePath}: run scripts/install-test-deps.sh`);
  process.exit(2);
}
const { chromium } = need('playwright-core');

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const STEP_MS = 15000;
let passed = 0, failed = 0;

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${name} ${(e && e.message ? e.message : String(e)).split('\n')[0]}`);
    failed++;
    throw e;
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function main() {
  fs.mkdirSync(shotDir, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hybi-chromium-'));
  let context;
  const problems = [];
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath, headless: true, args: FLAGS, viewport: { width: 900, height: 720 }, timeout: 60000,
    });
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });

    const wsUrl = url.replace(/^http/, 'ws');
    await step('load', async () => {
      const resp = await page.goto(url);
      expect(resp && resp.status() === 200, `status ${resp && resp.status()}`);
      expect((resp.headers()['content-type'] || '').startsWith('text/html'), `content-type ${resp.headers()['content-type']}`);
      expect(await page.title() === 'hybi echo', `title ${await page.title()}`);
      expect(await page.textContent('#status') === 'not connected', 'initial status');
      expect(await page.inputValue('#url') === wsUrl, `url field ${await page.inputValue('#url')}, want ${wsUrl}`);
    });
    await step('connect', async () => {
      await page.click('#connect');
      await page.waitForSelector('#status.open');
      expect((await page.textContent('#status')).startsWith('open'), 'status after connect');
      expect(await page.isEnabled('#send'), 'send enabled');
    });
    const messages = ['hello from chromium', 'second message: caf\u00e9 \u20ac 42'];
    await step('send and receive', async () => {
      await page.fill('#message', messages[0]);
      await page.click('#send');
      await page.fill('#message', messages[1]);
      await page.press('#message', 'Enter');
      await page.waitForFunction((n) => document.querySelectorAll('#log li.received').length >= n, messages.length);
      const got = await page.$$eval('#log li.received', (lis) => lis.map((li) => li.lastChild.textContent));
      expect(JSON.stringify(got) === JSON.stringify(messages), `received ${JSON.stringify(got)}`);
      const sent = await page.$$eval('#log li.sent', (lis) => lis.map((li) => li.lastChild.textContent));
      expect(JSON.stringify(sent) === JSON.stringify(messages), `sent ${JSON.stringify(sent)}`);
    });
    await step('screenshot', async () => {
      await page.screenshot({ path: path.join(shotDir, 'demo.png'), fullPage: true });
    });
    await step('close', async () => {
      await page.click('#close');
      await page.waitForSelector('#status.closed');
      const status = await page.textContent('#status');
      expect(/code 1000/.test(status) && !/not clean/.test(status), `status after close: ${status}`);
      expect(await page.isEnabled('#connect') && !(await page.isEnabled('#send')), 'buttons after close');
      await page.screenshot({ path: path.join(shotDir, 'demo-closed.png'), fullPage: true });
    });
    await step('reconnect', async () => {
      await page.click('#connect');
      await page.waitForSelector('#status.open');
      await page.fill('#message', 'again');
      await page.click('#send');
      await page.waitForFunction(() => document.querySelectorAll('#log li.received').length >= 3);
      await page.click('#close');
      await page.waitForSelector('#status.closed');
    });
    await step('no page errors', async () => {
      expect(problems.length === 0, problems.join('; '));
    });
    await step('not found', async () => {
      const resp = await page.goto(new URL('/no/such/page', url).href);
      expect(resp.status() === 404, `status ${resp.status()}`);
    });
  } catch (e) {
    if (!failed) {
      console.log(`FAIL browser ${(e && e.message ? e.message : String(e)).split('\n')[0]}`);
      failed++;
    }
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(`passed ${passed} failed ${failed}`);
  process.exit(failed === 0 ? 0 : 1);
}

main();
