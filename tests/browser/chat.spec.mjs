// chat.spec.mjs: the browser client (web/) against a real gocd, driven by
// npm's playwright-core in Debian's headless chromium. Prints TAP.
//
// Two people: alice on a desktop window (1000 x 700), bob on a phone
// (375 x 667, a touch screen), each in a browser context of their own (their
// own storage), and a third context for a stranger. Layout is asserted by
// geometry (nothing off screen, no sideways scrolling, no text out of its
// box) and screenshots are written for a look by eye.
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

const DEADLINE_MS = 130000; // the whole run
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
const SCRIPT = '<script>alert(2)</script>';
// more text a careless page would run: each must show as these characters
const HOSTILE = [
  '"><svg onload=alert(3)>',
  '<iframe src="javascript:alert(4)"></iframe>',
  '<a href="javascript:alert(5)">click</a> &lt;b&gt;',
];
const SECRET = 'browser-test-secret-0123456789abcdef0123'; // --auth-secret's file
const secretPath = path.join(tmp, 'auth.key');
fs.writeFileSync(secretPath, `${SECRET}\n`);
const DESKTOP = { viewport: { width: 1000, height: 700 } };
const PHONE = { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const LONG_NICK = 'an-extremely-long-nickname-32chr'; // the longest a nick may be
const LONG_WORD = 'W'.repeat(300);

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

/** A page of the chat on the server with --auth-secret, at address (its
 * 401s are expected: it is not watched for failed requests). */
async function openAuthPage(address) {
  const page = await ctx.desk.newPage();
  page.errors = [];
  page.csp = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => /Content Security Policy/i.test(m.text()) && page.csp.push(m.text()));
  await page.goto(`${authServer.url}${address}`);
  return page;
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

/** Sends texts to room as nick over POST /rpc, in batches of 100 (the
 * batch limit); returns the stored ids in order. */
async function sendMany(room, nick, texts) {
  const ids = [];
  for (let i = 0; i < texts.length; i += 100) {
    const batch = texts.slice(i, i + 100).map((text, k) => ({
      jsonrpc: '2.0', id: i + k + 1, method: 'chat.send', params: { room, nick, text },
    }));
    const res = await withTimeout(fetch(`${server.url}/rpc`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(batch),
    }), WAIT_MS, 'POST /rpc batch');
    const replies = (await res.json()).sort((a, b) => a.id - b.id);
    for (const r of replies) {
      check(r.result && r.result.id > 0, `batch send: ${JSON.stringify(r)}`);
      ids.push(r.result.id);
    }
  }
  return ids;
}

/** Watches a page for what must never happen: dialogs, script errors,
 * HTTP answers of 400 or more (a missing favicon, say). Also records the
 * JSON-RPC requests it sends over its WebSockets. */
function watch(page) {
  page.dialogs = [];
  page.errors = [];
  page.failed = [];
  page.sent = [];
  page.on('dialog', (d) => {
    page.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.csp = []; // Content-Security-Policy violations, reported on the console
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => /Content Security Policy/i.test(m.text()) && page.csp.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && page.failed.push(`${r.status()} ${r.url()}`));
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    try {
      page.sent.push(JSON.parse(f.payload));
    } catch {
      // not JSON: nothing to record
    }
  }));
  ctx.pages.push(page);
  return page;
}

/** A page of the chat opened with ?room=&nick=, once joined. */
async function openChat(context, nick) {
  const page = watch(await context.newPage());
  await page.goto(`${server.url}/?room=${ROOM}&nick=${encodeURIComponent(nick)}`);
  await joined(page);
  return page;
}

function joined(page, timeout = WAIT_MS) {
  return page.locator('#state[data-state="joined"]').waitFor({ timeout });
}

const list = (room = ROOM) => `ul.messages[data-room="${room}"]`;

/** Waits for a message with exactly this text in the page's list of room. */
function waitMessage(page, text, room = ROOM) {
  return page.locator(`${list(room)} li.msg .text`).getByText(text, { exact: true }).first().waitFor();
}

/** The ids of the messages shown in room, top to bottom. */
function shownIds(page, room = ROOM) {
  return page.$$eval(`${list(room)} li.msg`, (els) => els.map((e) => Number(e.dataset.id)));
}

function checkOrdered(ids, who) {
  for (let i = 1; i < ids.length; i++)
    check(ids[i] > ids[i - 1], `${who}: ids out of order or repeated at ${i}: ${ids.slice(i - 1, i + 1)}`);
}

/** The member list shown: [{nick, unknown}]. */
function members(page) {
  return page.$$eval('#members li', (els) => els.map((e) => ({
    nick: e.dataset.nick, unknown: e.classList.contains('unknown'),
  })));
}

async function shot(page, name) {
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, `${name}.png`) });
}

/**
 * What must hold on any screen: no sideways scrolling, the named controls
 * wholly inside the window, each message's parts inside the message and
 * the message inside its list, every time on one line. Returns the faults.
 */
function layoutFaults(page, controls) {
  return page.evaluate((sels) => {
    const faults = [];
    const vw = document.documentElement.clientWidth;
    const vh = window.innerHeight;
    const sw = document.scrollingElement.scrollWidth;
    if (sw > vw) faults.push(`the page scrolls sideways: ${sw} > ${vw}`);
    const inside = (r, o, slack = 0.5) => r.left >= o.left - slack && r.right <= o.right + slack;
    const rect = (r) => `[${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}]`;
    for (const sel of sels) {
      const e = document.querySelector(sel);
      const r = e && e.getBoundingClientRect();
      if (!r || r.width === 0) faults.push(`${sel}: not shown`);
      else if (r.left < 0 || r.top < 0 || r.right > vw || r.bottom > vh) faults.push(`${sel} off screen: ${rect(r)}`);
    }
    const ul = document.querySelector('ul.messages:not([hidden])');
    if (ul) {
      if (ul.scrollWidth > ul.clientWidth) faults.push(`the list scrolls sideways: ${ul.scrollWidth} > ${ul.clientWidth}`);
      const lr = ul.getBoundingClientRect();
      for (const li of ul.querySelectorAll('li')) {
        const r = li.getBoundingClientRect();
        if (!inside(r, lr)) faults.push(`item ${li.dataset.id || li.textContent.slice(0, 20)} out of its list: ${rect(r)}`);
        for (const part of li.querySelectorAll('.nick, .ts, .text')) {
          const pr = part.getBoundingClientRect();
          if (pr.width === 0 && pr.height === 0) continue; // not drawn (a grouped message's time)
          if (!inside(pr, r)) faults.push(`${part.className} of ${li.dataset.id} out of its message: ${rect(pr)} in ${rect(r)}`);
          if (part.classList.contains('text') && part.scrollWidth > part.clientWidth + 1)
            faults.push(`text of ${li.dataset.id} overflows: ${part.scrollWidth} > ${part.clientWidth}`);
        }
        const ts = li.querySelector('.ts');
        if (ts && getComputedStyle(ts).display !== 'none') {
          const range = document.createRange();
          range.selectNodeContents(ts);
          const lines = new Set([...range.getClientRects()].map((x) => Math.round(x.top)));
          if (lines.size !== 1) faults.push(`the time of ${li.dataset.id} takes ${lines.size} lines`);
        }
      }
    }
    return faults;
  }, controls);
}

async function checkLayout(page, controls, what) {
  const faults = await layoutFaults(page, controls);
  check(faults.length === 0, `${what}: ${faults.slice(0, 5).join('; ')}`);
}

/** Opens (or closes) the members drawer of a narrow page and waits until
 * it has slid in (or out). */
async function drawer(page, open) {
  await page.click(open ? '#members-toggle' : '#members-close');
  await page.waitForFunction((want) => {
    const p = document.getElementById('members-panel');
    const r = p.getBoundingClientRect();
    const shown = getComputedStyle(p).visibility === 'visible' && r.left >= 0 &&
      r.right <= document.documentElement.clientWidth + 0.5;
    return want ? shown && p.classList.contains('open') : getComputedStyle(p).visibility === 'hidden';
  }, open);
}

// ---- the tests ---------------------------------------------------------------------------

const ctx = { pages: [] }; // browser, contexts and pages shared by the tests

const tests = [
  ['gocd starts and prints its HTTP address', async () => {
    await server.start();
    check(/^127\.0\.0\.1:\d+$/.test(server.addr), `address ${server.addr}`);
  }],

  ['chromium starts headless', async () => {
    ctx.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 10000,
    });
    ctx.desk = await ctx.browser.newContext(DESKTOP); // alice's browser
    ctx.phone = await ctx.browser.newContext(PHONE); // bob's
    for (const c of [ctx.desk, ctx.phone]) c.setDefaultTimeout(WAIT_MS);
  }],

  ['on a phone the join form fits the screen with a margin, and joins', async () => {
    const page = watch(await ctx.phone.newPage());
    await page.goto(`${server.url}/`);
    await page.locator('#join').waitFor();
    const g = await page.evaluate(() => {
      const r = document.getElementById('join').getBoundingClientRect();
      return { left: r.left, right: r.right, vw: document.documentElement.clientWidth,
        sw: document.scrollingElement.scrollWidth };
    });
    check(g.left >= 8 && g.right <= g.vw - 8, `the form touches the edges: ${JSON.stringify(g)}`);
    check(g.sw <= g.vw, `sideways scrolling: ${JSON.stringify(g)}`);
    await checkLayout(page, ['#join-room', '#join-nick', '#join button'], 'join form');
    await shot(page, 'phone-join');
    await page.fill('#join-room', ROOM);
    await page.fill('#join-nick', 'bob');
    await page.click('#join button');
    await joined(page);
    ctx.bob = page;
  }],

  ['two people join one room and see each other in the member list', async () => {
    ctx.alice = await openChat(ctx.desk, 'alice');
    await ctx.alice.locator('#members li[data-nick="bob"]').waitFor();
    await ctx.bob.locator(`${list()} li.presence`, { hasText: 'alice joined' }).waitFor();
    const a = (await members(ctx.alice)).map((m) => m.nick);
    check(a.includes('alice') && a.includes('bob'), `alice sees members ${a}`);
    // on the phone the members are in a drawer, closed until asked for
    check(await ctx.bob.locator('#members-toggle').isVisible(), 'no members button on the phone');
    check(await ctx.bob.locator('#members-panel').evaluate((p) => getComputedStyle(p).visibility) === 'hidden',
      'the drawer is open before being asked for');
    check(await ctx.alice.locator('#members-toggle').isHidden(), 'a members button on the desktop');
    await drawer(ctx.bob, true);
    const b = (await members(ctx.bob)).map((m) => m.nick);
    check(b.includes('alice') && b.includes('bob'), `bob sees members ${b}`);
    await shot(ctx.bob, 'phone-members');
    await drawer(ctx.bob, false);
  }],

  ['messages typed in either page appear in both; your own are set apart', async () => {
    await ctx.alice.fill('#text', 'hello from alice');
    await ctx.alice.press('#text', 'Enter');
    await ctx.bob.fill('#text', 'hi alice, bob here');
    await ctx.bob.click('#send button');
    for (const page of [ctx.alice, ctx.bob]) {
      await waitMessage(page, 'hello from alice');
      await waitMessage(page, 'hi alice, bob here');
    }
    check(await ctx.alice.inputValue('#text') === '', 'the send box is cleared after sending');
    const marks = (page) => page.$$eval(`${list()} li.msg`, (els) => els.map((e) => ({
      nick: e.querySelector('.nick').textContent, mine: e.classList.contains('mine'),
      colour: [...e.querySelector('.nick').classList].find((c) => c.startsWith('nick-c')),
    })));
    const colours = {};
    for (const [page, me] of [[ctx.alice, 'alice'], [ctx.bob, 'bob']]) {
      for (const m of await marks(page)) {
        check(m.mine === (m.nick === me), `${me}'s page: ${m.nick}'s message mine=${m.mine}`);
        colours[m.nick] = colours[m.nick] || m.colour;
        check(m.colour && colours[m.nick] === m.colour, `${m.nick} in ${m.colour} and ${colours[m.nick]}`);
      }
    }
  }],

  ['a message sent with POST /rpc (chat.send with nick) appears in both pages', async () => {
    const reply = await rpcHttp('chat.send', { room: ROOM, nick: 'carol', text: 'posted over HTTP' });
    check(reply.result && reply.result.id > 0, `reply ${JSON.stringify(reply)}`);
    for (const page of [ctx.alice, ctx.bob]) {
      await waitMessage(page, 'posted over HTTP');
      const li = page.locator(`${list()} li.msg[data-id="${reply.result.id}"] .nick`);
      check(await li.textContent() === 'carol', 'the message carries its nick');
    }
  }],

  ['markup in a message or a nick is shown as text, never run', async () => {
    await ctx.bob.fill('#text', XSS);
    await ctx.bob.press('#text', 'Enter');
    await rpcHttp('chat.send', { room: ROOM, nick: '<b>mallory</b>', text: SCRIPT });
    for (const page of [ctx.alice, ctx.bob]) {
      for (const text of [XSS, SCRIPT]) await waitMessage(page, text);
      await page.locator(`${list()} .nick`, { hasText: '<b>mallory</b>' }).first().waitFor();
      const found = await page.locator(`${list()} img, ${list()} script, ${list()} b`).count();
      check(found === 0, `${found} elements made from message text`);
    }
    await sleep(300); // time for an onerror handler to fire, were there one
    for (const page of [ctx.alice, ctx.bob])
      check(page.dialogs.length === 0, `dialogs fired: ${page.dialogs}`);
  }],

  ['svg, iframe and javascript: links in messages show as text, nothing runs', async () => {
    for (const text of HOSTILE) {
      await ctx.bob.fill('#text', text);
      await ctx.bob.press('#text', 'Enter');
    }
    for (const page of [ctx.alice, ctx.bob]) {
      for (const text of HOSTILE) await waitMessage(page, text);
      const found = await page.locator(`${list()} svg, ${list()} iframe, ${list()} a`).count();
      check(found === 0, `${found} elements made from message text`);
    }
    await sleep(300);
    for (const page of [ctx.alice, ctx.bob])
      check(page.dialogs.length === 0, `dialogs fired: ${page.dialogs}`);
  }],

  ['long nicks and long words stay in their boxes, on a phone and a desktop', async () => {
    await rpcHttp('chat.send', { room: ROOM, nick: LONG_NICK, text: `${LONG_WORD} and more` });
    await rpcHttp('chat.send', { room: ROOM, nick: LONG_NICK, text: 'a short one' });
    for (const page of [ctx.alice, ctx.bob]) await waitMessage(page, 'a short one');
    const nick = ctx.bob.locator(`${list()} li.msg .nick`, { hasText: LONG_NICK }).first();
    check(await nick.getAttribute('title') === LONG_NICK, 'the whole nick is in its title');
    await checkLayout(ctx.bob, ['#send button', '#text', '#leave', '#members-toggle', '#room-title',
      '#add-room-toggle'], 'phone');
    await checkLayout(ctx.alice, ['#send button', '#text', '#leave', '#members-panel', '#room-title'],
      'desktop');
    await shot(ctx.bob, 'phone-chat');
    await shot(ctx.alice, 'desktop-chat');
  }],

  ['a nick already in the room is refused in words, and another one offered', async () => {
    const stranger = await ctx.browser.newContext(DESKTOP);
    stranger.setDefaultTimeout(WAIT_MS);
    const page = watch(await stranger.newPage());
    await page.goto(`${server.url}/`);
    await page.fill('#join-room', ROOM);
    await page.fill('#join-nick', 'alice');
    await page.click('#join button');
    const err = page.locator('#join-error');
    await err.waitFor({ state: 'visible' });
    const text = await err.textContent();
    check(/already in use/.test(text) && !/-?\d{5}/.test(text), `error shown: ${text}`);
    check(await err.getAttribute('data-code') === '-32002', 'the code is kept for scripts');
    check(await page.inputValue('#join-nick') === 'alice2', 'another nick is offered');
    check(await page.locator('#chat').isHidden(), 'the chat stays hidden');
    await stranger.close();
  }],

  ['several rooms at once, with unread counts', async () => {
    const page = ctx.alice;
    await page.click('#add-room-toggle');
    await page.fill('#add-room-name', 'dev');
    await page.press('#add-room-name', 'Enter');
    await page.locator('.tab[data-room="dev"][aria-selected="true"]').waitFor();
    await joined(page);
    await page.fill('#text', 'in dev now');
    await page.press('#text', 'Enter');
    await waitMessage(page, 'in dev now', 'dev');
    check(await page.locator(list('dev')).isVisible() && await page.locator(list()).isHidden(),
      'only the room shown has its list shown');
    for (let i = 1; i <= 2; i++) {
      await ctx.bob.fill('#text', `unread ${i}`);
      await ctx.bob.press('#text', 'Enter');
    }
    const badge = page.locator('.tab[data-room="lobby"] .unread');
    await page.waitForFunction(() => document.querySelector('.tab[data-room="lobby"] .unread').textContent === '2');
    check(await badge.isVisible(), 'the unread count is shown');
    check(/^\(2\) /.test(await page.title()), `title ${await page.title()}`);
    await shot(page, 'desktop-rooms');
    await page.click('.tab[data-room="lobby"]');
    await waitMessage(page, 'unread 2');
    check(await badge.isHidden(), 'the count goes once the room is shown');
    check(await page.locator(list()).isVisible(), 'the lobby list is shown');
  }],

  ['scrolling back loads the history page by page, to the beginning', async () => {
    const room = 'history';
    const texts = Array.from({ length: 260 }, (_, i) => `old ${i}`);
    const ids = await sendMany(room, 'archivist', texts);
    const page = ctx.alice;
    const sentBefore = page.sent.length;
    await page.click('#add-room-toggle');
    await page.fill('#add-room-name', room);
    await page.press('#add-room-name', 'Enter');
    await waitMessage(page, 'old 259', room);
    check((await shownIds(page, room)).length === 50, 'the join shows the last 50');
    const older = page.locator(`${list(room)} .load-older`);
    // scrolling to the top loads the page below the oldest shown
    const toTop = () => page.locator(list(room)).evaluate((ul) => { ul.scrollTop = 0; });
    await toTop();
    await waitMessage(page, 'old 110', room);
    // the reader's place is kept: the first message shown before is still
    // in view, not pushed off by the page loaded above it
    const kept = await page.locator(`${list(room)} li.msg[data-id="${ids[210]}"]`).evaluate((li) => {
      const r = li.getBoundingClientRect();
      const u = li.parentElement.getBoundingClientRect();
      return r.bottom > u.top && r.top < u.bottom;
    });
    check(kept, 'the page loaded above moved the reader');
    await toTop();
    await waitMessage(page, 'old 10', room);
    // the button does the same (for keyboards): the last, short page
    await older.focus();
    await page.keyboard.press('Enter');
    await waitMessage(page, 'old 0', room);
    await page.locator(`${list(room)} .beginning`).waitFor();
    const shown = await shownIds(page, room);
    checkOrdered(shown, 'scrolled back');
    check(JSON.stringify(shown) === JSON.stringify(ids), `shown ${shown.length} of ${ids.length} ids`);
    const asked = page.sent.slice(sentBefore).filter((m) => m.method === 'chat.history' && m.params.before);
    const befores = asked.map((m) => m.params.before);
    check(JSON.stringify(befores) === JSON.stringify([ids[210], ids[110], ids[10]]),
      `chat.history before ${befores}, want ${[ids[210], ids[110], ids[10]]}`);
    await shot(page, 'desktop-history');
  }],

  ['a reload rejoins every room by itself, in the room that was shown', async () => {
    const page = ctx.alice;
    await page.click('.tab[data-room="dev"]');
    const lobbyBefore = await shownIds(page);
    await page.reload();
    await joined(page);
    const tabs = await page.$$eval('.tab', (els) => els.map((e) => e.dataset.room));
    check(JSON.stringify(tabs) === JSON.stringify(['lobby', 'dev', 'history']), `tabs ${tabs}`);
    check(await page.locator('.tab[data-room="dev"][aria-selected="true"]').count() === 1, 'dev shown');
    await waitMessage(page, 'in dev now', 'dev');
    await page.click('.tab[data-room="lobby"]');
    await waitMessage(page, XSS);
    const after = await shownIds(page);
    checkOrdered(after, 'after reload');
    const lost = lobbyBefore.filter((id) => !after.includes(id) && id > after[0]);
    check(lost.length === 0, `lost messages: ${lost}`);
    check(await page.locator(`${list()} img`).count() === 0, 'an img element after reload');
    await page.locator('#members li[data-nick="bob"]').waitFor();
  }],

  ['a second tab with the same nick says so and offers another nick', async () => {
    const page = watch(await ctx.desk.newPage()); // alice's browser: her saved session
    await page.goto(`${server.url}/`);
    const err = page.locator('#join-error');
    await err.waitFor({ state: 'visible', timeout: 8000 });
    const text = await err.textContent();
    check(/another tab/.test(text) && /alice/.test(text), `said: ${text}`);
    check(await page.inputValue('#join-nick') === 'alice2', `offered ${await page.inputValue('#join-nick')}`);
    await shot(page, 'desktop-second-tab');
    await page.click('#join button');
    await joined(page);
    await ctx.alice.locator('#members li[data-nick="alice2"]').waitFor();
    const tabs = await page.$$eval('.tab', (els) => els.map((e) => e.dataset.room));
    check(tabs.length === 3 && tabs.includes('dev'), `the second tab's rooms: ${tabs}`);
    // Leave: the room goes, another is shown
    await page.click('.tab[data-room="history"]');
    await page.click('#leave');
    await page.locator('.tab[data-room="history"]').waitFor({ state: 'detached' });
    check(await page.locator('.tab[aria-selected="true"]').count() === 1, 'a room is shown after leaving');
    check(await page.locator(list('history')).count() === 0, 'the list of the room left is gone');
    await page.close();
    // a real leave is said (after a moment: see rooms.js)
    await ctx.alice.locator(`${list()} li.presence`, { hasText: 'alice2 left' }).waitFor();
    await ctx.alice.locator('#members li[data-nick="alice2"]').waitFor({ state: 'detached' });
  }],

  ['after a server restart: members grey meanwhile, no "joined" burst, no gap or duplicate', async () => {
    const addr = server.addr;
    const lastSeen = Math.max(...await shownIds(ctx.alice));
    const sentBefore = ctx.alice.sent.length;
    const notices = async (page) => page.$$eval(`${list()} li.presence`, (els) => els.map((e) => e.textContent));
    const before = { alice: await notices(ctx.alice), bob: await notices(ctx.bob) };
    await server.stop();
    await ctx.alice.locator('#state:not([data-state="joined"])').waitFor();
    const grey = await members(ctx.alice);
    check(grey.length >= 2 && grey.every((m) => m.unknown), `members while down: ${JSON.stringify(grey)}`);
    check(await ctx.alice.textContent('#member-count') === '?', 'the count is unknown while down');
    await shot(ctx.alice, 'desktop-offline');
    await server.start(addr);
    // 60 messages: more than the 50 that chat.join returns, so the rest must
    // come from chat.history since the last id seen.
    const sent = await sendMany(ROOM, 'carol', Array.from({ length: 60 }, (_, i) => `while away ${i}`));
    // A client's next try may be up to the backoff's cap (15 s, full jitter:
    // web/rpc.js backoffDelay) away once the server is back.
    const BACK = 20000;
    for (const page of [ctx.alice, ctx.bob]) {
      await joined(page, BACK);
      await waitMessage(page, 'while away 59');
      const ids = await shownIds(page);
      checkOrdered(ids, 'after reconnect');
      const missing = sent.filter((id) => !ids.includes(id));
      check(missing.length === 0, `missing after reconnect: ${missing}`);
    }
    const asked = ctx.alice.sent.slice(sentBefore).filter((m) => m.method === 'chat.history');
    check(asked.some((m) => m.params.room === ROOM && m.params.since === lastSeen),
      `no chat.history since ${lastSeen} after reconnecting: ${JSON.stringify(asked)}`);
    // each sees the other back, not grey, and was told nothing about it
    await ctx.alice.locator('#members li[data-nick="bob"]:not(.unknown)').waitFor({ timeout: BACK });
    await drawer(ctx.bob, true);
    await ctx.bob.locator('#members li[data-nick="alice"]:not(.unknown)').waitFor({ timeout: BACK });
    await drawer(ctx.bob, false);
    for (const [name, page] of [['alice', ctx.alice], ['bob', ctx.bob]]) {
      const fresh = (await notices(page)).slice(before[name].length);
      check(fresh.length === 0, `${name} was told: ${fresh}`);
    }
  }],

  ['sending faster than --rate is refused in words', async () => {
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
    check(/too fast/.test(text) && !/-?\d{5}/.test(text), `error shown: ${text}`);
    await checkLayout(ctx.bob, ['#send button', '#error'], 'phone with an error');
    await shot(ctx.bob, 'phone-rate-limited');
  }],

  ['the runtime page charts with time axes, units and formatted numbers', async () => {
    const page = watch(await ctx.desk.newPage());
    await page.goto(`${server.url}/runtime.html`);
    // two samples at least, for the rates
    await page.waitForFunction(() => /\d/.test(document.getElementById('value-switches')?.textContent || ''));
    const charts = await page.$$eval('.chart', (els) => els.map((e) => e.id));
    for (const id of ['conns', 'messages', 'heap', 'goroutines', 'switches', 'runq', 'gc', 'gcpause'])
      check(charts.includes(`chart-${id}`), `no ${id} chart in ${charts}`);
    const conns = await page.textContent('#chart-conns .legend');
    check(/tcp/.test(conns) && /http/.test(conns) && /ws/.test(conns), `conns legend ${conns}`);
    check(/^\d/.test(await page.textContent('#value-conns')), 'connections count');
    check(/^[\d.]+ (B|KiB|MiB|GiB)$/.test(await page.textContent('#value-heap')), 'heap in a unit');
    check(/^[\d.]+ (B|KiB|MiB|GiB)$/.test(await page.textContent('#value-gc')), 'collected heap in a unit');
    const gcLegend = await page.textContent('#chart-gc .legend');
    check(/live/.test(gcLegend) && /goal/.test(gcLegend), `collected heap legend ${gcLegend}`);
    check(/\/s$/.test(await page.textContent('#value-messages')), 'messages per second');
    const axes = await page.$$eval('#chart-heap svg text', (els) => els.map((e) => e.textContent));
    check(axes.some((t) => /\d{1,2}:\d{2}/.test(t)), `no clock on the time axis: ${axes}`);
    check(axes.filter((t) => /(B|KiB|MiB)$/.test(t)).length >= 2, `no units on the value axis: ${axes}`);
    check(await page.locator('#chart-heap svg path').count() >= 1, 'no line in the heap chart');
    const labels = await page.$$eval('#charts text, #charts output, #charts .legend-item',
      (els) => els.map((e) => e.textContent));
    const raw = labels.filter((t) => /\d{5,}/.test(t) || /\d,\d{3},\d{3}/.test(t));
    check(labels.length > 20 && raw.length === 0, `unformatted numbers on the charts: ${raw}`);
    check(await page.locator('#raw-body tr[data-name="uptime_ms"]').count() === 1, 'raw uptime_ms');
    await shot(page, 'desktop-runtime');
    const phone = watch(await ctx.phone.newPage());
    await phone.goto(`${server.url}/runtime.html`);
    await phone.locator('#chart-heap svg path').waitFor({ state: 'attached' });
    await phone.locator('#chart-heap svg').scrollIntoViewIfNeeded();
    await checkLayout(phone, ['#chart-heap svg'], 'runtime page on a phone');
    await shot(phone, 'phone-runtime');
    await page.close();
    await phone.close();
  }],

  ['no script errors, dialogs, failed requests or CSP violations (a favicon is there)', async () => {
    for (const page of ctx.pages) {
      check(page.errors.length === 0, `script errors: ${page.errors}`);
      check(page.csp.length === 0, `Content-Security-Policy violations: ${page.csp}`);
      check(page.failed.length === 0, `failed requests: ${page.failed}`);
      check(page.dialogs.length === 0, `dialogs: ${page.dialogs}`);
    }
    const res = await fetch(`${server.url}/favicon.svg`);
    check(res.status === 200 && /svg/.test(res.headers.get('content-type')), 'favicon.svg');
  }],

  ['gocd exits 0 on SIGTERM with pages connected', async () => {
    const code = await server.stop();
    check(code === 0, `exit status ${code}`);
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
    await joined(page);
    check(!/token/.test(await page.evaluate(() => location.href)), 'the token left the address');
    check(/Signed in as mallory/.test(await page.textContent('#auth')), 'signed-in note');
    await page.fill('#text', 'signed message');
    await page.press('#text', 'Enter');
    const mine = page.locator(`${list()} li.msg`, { hasText: 'signed message' });
    await mine.waitFor();
    const raw = await page.evaluate(() => sessionStorage.getItem('goc.token'));
    check(raw && raw.split('.').length === 3, 'the token is kept for the tab');
    await page.reload(); // the token stays with the tab
    await joined(page);
    check(page.errors.length === 0 && page.csp.length === 0, `errors: ${page.errors} ${page.csp}`);
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
    await joined(page);
    await page.locator('#auth.error', { hasText: 'expired' }).waitFor({ state: 'visible', timeout: 8000 });
    await page.locator('#state:not([data-state="joined"])').waitFor();
    await shot(page, 'auth-expired');
    await page.close();
    const code = await authServer.stop();
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
  if (ctx.browser) await withTimeout(ctx.browser.close(), 5000, 'browser close').catch(() => {});
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
