// chat.spec.mjs: the browser client (web/) against a real gocd, driven by
// npm's playwright-core in Debian's headless chromium. Prints TAP.
//
// Usage: node chat.spec.mjs GOCD WEB_DIR [OUT_DIR]
//   GOCD     the server binary; started here with --http 127.0.0.1:0 and a
//            history database in a fresh temporary folder
//   WEB_DIR  the client's folder, served with --web
//   OUT_DIR  where screenshots go (default $GOC_BROWSER_OUT, else the
//            current folder); they are written to OUT_DIR/screenshots/
// Environment: CHROMIUM overrides /usr/bin/chromium.
//
// Invariants: every wait is bounded (a few seconds each, the whole run by
// DEADLINE_MS); the plan line comes first and every planned test prints
// exactly one ok/not ok line, even when an earlier one failed or time ran
// out; the exit status is 1 when any failed.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const DEADLINE_MS = 100000; // the whole run
const STEP_MS = 15000; // one test
const WAIT_MS = 5000; // one wait for the page

const [gocdPath, webDir, outArg] = process.argv.slice(2);
if (!gocdPath || !webDir) {
  console.error('usage: node chat.spec.mjs GOCD WEB_DIR [OUT_DIR]');
  process.exit(2);
}
const outDir = path.join(outArg || process.env.GOC_BROWSER_OUT || '.', 'screenshots');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'goc-browser-'));
const dbPath = path.join(tmp, 'chat.db');
const ROOM = 'lobby';
const XSS = '<img src=x onerror=alert(1)>';
// more text a careless page would run: each must show as these characters
const HOSTILE = [
  '<script>alert(2)</script>',
  '"><svg onload=alert(3)>',
  '<iframe src="javascript:alert(4)"></iframe>',
  '<a href="javascript:alert(5)">click</a> &lt;b&gt;',
];
const SECRET = 'browser-test-secret-0123456789abcdef0123'; // --auth-secret's file
const secretPath = path.join(tmp, 'auth.key');
fs.writeFileSync(secretPath, `${SECRET}\n`);

// ---- helpers -----------------------------------------------------------------------------

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A gocd process; extra: flags beyond the common ones. */
const makeServer = (db, extra = []) => ({
  proc: null, // the child process
  addr: null, // HOST:PORT of its HTTP listener
  log: [], // its stderr and stdout lines, for diagnostics

  /** Starts gocd on addr (port 0 the first time) and waits for its line. */
  start(addr = '127.0.0.1:0') {
    // --rate 5 (bursts of 10) per member: the pages send a few messages,
    // and a flood of 60 is refused however slowly a sanitized build answers.
    const args = ['--http', addr, '--tcp', 'off', '--db', db, '--web', webDir,
      '--rate', '5', '--log-level', 'warn', ...extra];
    const proc = spawn(gocdPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stderr.on('data', (d) => this.log.push(...String(d).trimEnd().split('\n')));
    return withTimeout(new Promise((resolve, reject) => {
      let buf = '';
      proc.stdout.on('data', (d) => {
        buf += d;
        const m = /^listening http (\S+)$/m.exec(buf);
        if (m && !this.addr) this.addr = m[1];
        if (m) resolve(m[1]);
      });
      proc.on('exit', (code) => reject(new Error(`gocd exited with ${code}`)));
      proc.on('error', reject);
    }), 10000, 'gocd start');
  },

  /** SIGTERM, then SIGKILL if it is still there after 5 s; the exit code. */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc && proc.exitCode;
    const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    try {
      return await withTimeout(exited, 5000, 'gocd exit');
    } catch (e) {
      proc.kill('SIGKILL');
      await exited;
      throw e;
    }
  },

  get url() {
    return `http://${this.addr}`;
  },
});

const server = makeServer(dbPath); // development mode
const authServer = makeServer(':memory:', ['--auth-secret', secretPath]);

/** An HS256 token for sub under SECRET, valid ttl seconds more. */
function token(sub, ttl) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const text = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + ttl })}`;
  return `${text}.${crypto.createHmac('sha256', SECRET).update(text).digest('base64url')}`;
}

/** A page of the chat on the server with --auth-secret, at address. */
async function openAuthPage(address) {
  const page = await ctx.context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  watchConsole(page);
  await page.goto(`${authServer.url}${address}`);
  return page;
}

/** Collects the page's Content-Security-Policy violations, reported on
 * its console. */
function watchConsole(page) {
  page.cspViolations = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) page.cspViolations.push(m.text());
  });
}

/** POST /rpc, as curl would: one JSON-RPC request, its reply object. */
async function rpcHttp(method, params) {
  const res = await withTimeout(fetch(`${server.url}/rpc`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  }), WAIT_MS, `POST /rpc ${method}`);
  check(res.status === 200, `POST /rpc ${method}: status ${res.status}`);
  return res.json();
}

/** A page of the chat, with the dialogs and script errors it saw. */
async function openChat(context, nick) {
  const page = await context.newPage();
  page.dialogs = [];
  page.errors = [];
  page.on('dialog', (d) => {
    page.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  watchConsole(page);
  page.sent = []; // JSON-RPC requests the page sent over its WebSockets
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    try {
      page.sent.push(JSON.parse(f.payload));
    } catch {
      // not JSON: the test of chat.history below ignores it
    }
  }));
  await page.goto(`${server.url}/?room=${ROOM}&nick=${encodeURIComponent(nick)}`);
  await page.locator('#state[data-state="joined"]').waitFor();
  return page;
}

/** Waits for a message with exactly this text in the page's list. */
function waitMessage(page, text) {
  return page.locator('#messages li.msg .text').getByText(text, { exact: true }).first().waitFor();
}

/** The ids of the messages shown, top to bottom. */
function shownIds(page) {
  return page.$$eval('#messages li.msg', (els) => els.map((e) => Number(e.dataset.id)));
}

function checkOrdered(ids, who) {
  for (let i = 1; i < ids.length; i++)
    check(ids[i] > ids[i - 1], `${who}: ids out of order or repeated at ${i}: ${ids.slice(i - 1, i + 1)}`);
}

async function members(page) {
  return page.$$eval('#members li', (els) => els.map((e) => e.textContent));
}

async function shot(page, name) {
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
}

// ---- the tests ---------------------------------------------------------------------------

const ctx = {}; // browser context and pages shared by the tests

const tests = [
  ['gocd starts and prints its HTTP address', async () => {
    await server.start();
    check(/^127\.0\.0\.1:\d+$/.test(server.addr), `address ${server.addr}`);
  }],

  ['chromium starts headless', async () => {
    const profile = fs.mkdtempSync(path.join(tmp, 'profile-'));
    ctx.context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1000, height: 700 },
      timeout: 10000,
    });
    ctx.context.setDefaultTimeout(WAIT_MS);
  }],

  ['two pages join one room and see each other in the member list', async () => {
    ctx.alice = await openChat(ctx.context, 'alice');
    ctx.bob = await openChat(ctx.context, 'bob');
    await ctx.alice.locator('#members li', { hasText: 'bob' }).waitFor();
    await ctx.alice.locator('#messages li.presence', { hasText: 'bob joined' }).waitFor();
    const a = await members(ctx.alice);
    const b = await members(ctx.bob);
    check(a.includes('alice') && a.includes('bob'), `alice sees members ${a}`);
    check(b.includes('alice') && b.includes('bob'), `bob sees members ${b}`);
    for (const page of [ctx.alice, ctx.bob]) {
      check(await page.locator('#join').isHidden(), 'the join form is hidden once joined');
      check(await page.locator('#chat').isVisible(), 'the chat is shown once joined');
    }
  }],

  ['messages typed in either page appear in both', async () => {
    await ctx.alice.fill('#text', 'hello from alice');
    await ctx.alice.press('#text', 'Enter');
    await ctx.bob.fill('#text', 'hi alice, bob here');
    await ctx.bob.click('#send button');
    for (const page of [ctx.alice, ctx.bob]) {
      await waitMessage(page, 'hello from alice');
      await waitMessage(page, 'hi alice, bob here');
    }
    check(await ctx.alice.inputValue('#text') === '', 'the send box is cleared after sending');
    await shot(ctx.alice, 'chat-alice');
    await shot(ctx.bob, 'chat-bob');
  }],

  ['a message sent with POST /rpc (chat.send with nick) appears in both pages', async () => {
    const reply = await rpcHttp('chat.send', { room: ROOM, nick: 'carol', text: 'posted over HTTP' });
    check(reply.result && reply.result.id > 0, `reply ${JSON.stringify(reply)}`);
    for (const page of [ctx.alice, ctx.bob]) {
      await waitMessage(page, 'posted over HTTP');
      const li = page.locator(`#messages li.msg[data-id="${reply.result.id}"] .nick`);
      check(await li.textContent() === 'carol', 'the message carries its nick');
    }
  }],

  ['markup in a message is shown as text, never run', async () => {
    await ctx.bob.fill('#text', XSS);
    await ctx.bob.press('#text', 'Enter');
    for (const page of [ctx.alice, ctx.bob]) {
      const lit = page.locator('#messages').getByText(XSS, { exact: true });
      await lit.waitFor({ state: 'visible' });
      check(await page.locator('#messages img').count() === 0, 'an img element in the message list');
    }
    await sleep(300); // time for an onerror handler to fire, were there one
    for (const page of [ctx.alice, ctx.bob])
      check(page.dialogs.length === 0, `dialogs fired: ${page.dialogs}`);
    await shot(ctx.alice, 'chat-markup');
  }],

  ['script, svg, iframe and javascript: links in messages and nicks show as text', async () => {
    for (const text of HOSTILE) {
      await ctx.bob.fill('#text', text);
      await ctx.bob.press('#text', 'Enter');
    }
    const nick = '<b onmouseover=alert(6)>eve</b>';
    const r = await rpcHttp('chat.send', { room: ROOM, nick, text: 'hostile nick' });
    check(r.result, `send as ${nick}: ${JSON.stringify(r)}`);
    for (const page of [ctx.alice, ctx.bob]) {
      for (const text of HOSTILE)
        await page.locator('#messages .text').getByText(text, { exact: true }).waitFor();
      await page.locator('#messages .nick').getByText(nick, { exact: true }).waitFor();
      const inside = await page.$$eval('#messages *', (els) => els.map((e) => e.tagName));
      const bad = inside.filter((t) => !['LI', 'TIME', 'SPAN'].includes(t));
      check(bad.length === 0, `elements made from message text: ${bad}`);
      check(await page.locator('#messages a, #messages script, #messages iframe, #messages svg, #messages b').count() === 0,
        'markup elements in the message list');
    }
    await sleep(300);
    for (const page of [ctx.alice, ctx.bob])
      check(page.dialogs.length === 0, `dialogs fired: ${page.dialogs}`);
    await shot(ctx.bob, 'chat-hostile');
  }],

  ['a nick already in the room is refused visibly (-32002)', async () => {
    const page = await ctx.context.newPage();
    await page.goto(`${server.url}/`);
    await page.fill('#join-room', ROOM);
    await page.fill('#join-nick', 'alice');
    await page.click('#join button');
    const err = page.locator('#join-error');
    await err.waitFor({ state: 'visible' });
    const text = await err.textContent();
    check(/taken/.test(text) && /-32002/.test(text), `error shown: ${text}`);
    check(await page.locator('#chat').isHidden(), 'the chat stays hidden');
    await page.close();
  }],

  ['a reload recovers the history in id order', async () => {
    const before = await shownIds(ctx.alice);
    await ctx.alice.reload();
    await ctx.alice.locator('#state[data-state="joined"]').waitFor();
    await waitMessage(ctx.alice, XSS);
    const after = await shownIds(ctx.alice);
    checkOrdered(after, 'after reload');
    check(before.every((id) => after.includes(id)), `lost messages: before ${before}, after ${after}`);
    check(await ctx.alice.locator('#messages img').count() === 0, 'an img element after reload');
    await shot(ctx.alice, 'chat-reloaded');
  }],

  ['after a server restart the pages reconnect and catch up with no gap or duplicate', async () => {
    const addr = server.addr;
    const lastSeen = Math.max(...await shownIds(ctx.alice));
    const sentBefore = ctx.alice.sent.length;
    await server.stop();
    await ctx.alice.locator('#state:not([data-state="joined"])').waitFor();
    await server.start(addr);
    // 60 messages: more than the 50 that chat.join returns, so the rest must
    // come from chat.history since the last id seen.
    const sent = [];
    for (let i = 0; i < 60; i++) {
      const r = await rpcHttp('chat.send', { room: ROOM, nick: 'carol', text: `while away ${i}` });
      check(r.result, `send ${i}: ${JSON.stringify(r)}`);
      sent.push(r.result.id);
    }
    for (const page of [ctx.alice, ctx.bob]) {
      await page.locator('#state[data-state="joined"]').waitFor({ timeout: 8000 });
      await waitMessage(page, 'while away 59');
      const ids = await shownIds(page);
      checkOrdered(ids, 'after reconnect');
      const missing = sent.filter((id) => !ids.includes(id));
      check(missing.length === 0, `missing after reconnect: ${missing}`);
    }
    const asked = ctx.alice.sent.slice(sentBefore).filter((m) => m.method === 'chat.history');
    check(asked.some((m) => m.params.room === ROOM && m.params.since === lastSeen),
      `no chat.history since ${lastSeen} after reconnecting: ${JSON.stringify(asked)}`);
  }],

  ['sending faster than --rate is refused visibly (-32004)', async () => {
    // 60 sends at once: far more than the burst of 10 that --rate 5 allows.
    await ctx.bob.evaluate(() => {
      const form = document.getElementById('send');
      const input = document.getElementById('text');
      for (let i = 0; i < 60; i++) {
        input.value = `flood ${i}`;
        form.requestSubmit();
      }
    });
    const err = ctx.bob.locator('#error');
    await err.waitFor({ state: 'visible' });
    const text = await err.textContent();
    check(/rate limited/.test(text) && /-32004/.test(text), `error shown: ${text}`);
    await shot(ctx.bob, 'chat-rate-limited');
  }],

  ['the runtime page shows live numbers and charts', async () => {
    const page = await ctx.context.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    await page.goto(`${server.url}/runtime.html`);
    const num = /^\d[\d,]*$/;
    await page.waitForFunction((re) => new RegExp(re).test(
      document.getElementById('value-goroutines').textContent), num.source);
    await page.waitForFunction(() => /\d/.test(document.getElementById('value-switches').textContent));
    const threads = await page.textContent('#value-threads');
    check(num.test(threads) && Number(threads.replace(/,/g, '')) >= 1, `threads ${threads}`);
    check(/\d/.test(await page.textContent('#value-heap')), 'heap in use');
    check(await page.locator('#raw-body tr[data-name="uptime_ms"]').count() === 1, 'raw uptime_ms');
    const inked = await page.$eval('#chart-goroutines canvas', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    });
    check(inked > 0, 'the goroutines chart is blank');
    check(page.errors.length === 0, `script errors: ${page.errors}`);
    await sleep(2000); // a few more samples, for a screenshot with lines
    await shot(page, 'runtime');
    await page.close();
  }],

  ['no script errors and no Content-Security-Policy violations on the chat pages', async () => {
    for (const page of [ctx.alice, ctx.bob]) {
      check(page.errors.length === 0, `script errors: ${page.errors}`);
      check(page.cspViolations.length === 0, `CSP violations: ${page.cspViolations}`);
    }
  }],

  ['--auth-secret: a page without a token says it needs one, and does not connect', async () => {
    await authServer.start();
    const page = await openAuthPage(`/?room=${ROOM}`);
    const note = page.locator('#auth');
    await note.waitFor({ state: 'visible' });
    const text = await note.textContent();
    check(/needs a token/.test(text) && /#token=/.test(text), `shown: ${text}`);
    check(await page.locator('#join button').isDisabled(), 'the join button stays disabled');
    check(await page.locator('#state').getAttribute('data-state') === 'closed', 'not connected');
    await shot(page, 'auth-none');
    await page.close();
  }],

  ['--auth-secret: a token in the page address joins under its nick, and leaves the address', async () => {
    const page = await openAuthPage(`/?room=${ROOM}#token=${token('mallory', 300)}`);
    await page.locator('#state[data-state="joined"]').waitFor();
    check(await page.inputValue('#join-nick') === 'mallory', 'the nick is the token\'s');
    check(!/token/.test(await page.evaluate(() => location.href)), 'the token left the address');
    check(/Signed in as mallory/.test(await page.textContent('#auth')), 'signed-in note');
    await page.fill('#text', 'signed message');
    await page.press('#text', 'Enter');
    const mine = page.locator('#messages li.msg', { hasText: 'signed message' });
    await mine.waitFor();
    check(await mine.locator('.nick').textContent() === 'mallory', 'sent under the token\'s nick');
    await page.reload(); // the token stays with the tab
    await page.locator('#state[data-state="joined"]').waitFor();
    check(page.errors.length === 0 && page.cspViolations.length === 0,
      `errors: ${page.errors} ${page.cspViolations}`);
    await shot(page, 'auth-joined');
    await page.close();
  }],

  ['--auth-secret: an expired token is said to be expired, also when it runs out while open', async () => {
    const old = await openAuthPage(`/?room=${ROOM}#token=${token('oscar', -10)}`);
    const note = old.locator('#auth.error');
    await note.waitFor({ state: 'visible' });
    check(/expired/.test(await note.textContent()), `shown: ${await note.textContent()}`);
    await old.close();
    const page = await openAuthPage(`/?room=${ROOM}#token=${token('peggy', 3)}`);
    await page.locator('#state[data-state="joined"]').waitFor();
    const gone = page.locator('#auth.error', { hasText: 'expired' });
    await gone.waitFor({ state: 'visible', timeout: 8000 });
    await page.locator('#state:not([data-state="joined"])').waitFor();
    await shot(page, 'auth-expired');
    await page.close();
    const code = await authServer.stop();
    check(code === 0, `exit status ${code}`);
  }],

  ['gocd exits 0 on SIGTERM with pages connected', async () => {
    const code = await server.stop();
    check(code === 0, `exit status ${code}`);
  }],
];

// ---- the runner --------------------------------------------------------------------------

let failed = 0;
let next = 0;

function report(ok, name, err) {
  console.log(`${ok ? 'ok' : 'not ok'} ${next + 1} - ${name}`);
  if (!ok) {
    failed++;
    const text = String(err && err.stack ? err.stack : err).replace(/\x1b\[[0-9;]*m/g, '');
    for (const line of text.split('\n').slice(0, 6))
      console.log(`# ${line}`);
  }
}

async function cleanup() {
  if (ctx.context) await withTimeout(ctx.context.close(), 5000, 'browser close').catch(() => {});
  await server.stop().catch(() => {});
  await authServer.stop().catch(() => {});
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function main() {
  console.log(`1..${tests.length}`);
  const deadline = setTimeout(() => {
    for (; next < tests.length; next++) report(false, tests[next][0], 'the whole run took too long');
    if (server.proc) server.proc.kill('SIGKILL');
    process.exit(1);
  }, DEADLINE_MS);
  for (; next < tests.length; next++) {
    const [name, fn] = tests[next];
    try {
      await withTimeout(fn(), STEP_MS, name);
      report(true, name);
    } catch (err) {
      report(false, name, err);
    }
  }
  await cleanup();
  clearTimeout(deadline);
  if (failed) for (const line of server.log.slice(-20)) console.log(`# gocd: ${line}`);
  process.exit(failed ? 1 : 0);
}

main();
