// cluster.spec.mjs: the browser client (web/), unchanged, against two gocd
// servers of one chat (--redis, on a redis-server of the test's own), driven
// by npm's playwright-core in Debian's headless chromium. Two pages, each
// on its own server, chat with each other. Prints TAP.
//
// Usage: node cluster.spec.mjs GOCD WEB_DIR [OUT_DIR]
//   GOCD     the server binary; two are started here with --redis and
//            --http 127.0.0.1:0
//   WEB_DIR  the client's folder, served with --web
//   OUT_DIR  where screenshots go (default $GOC_BROWSER_OUT, else the
//            current folder); they are written to OUT_DIR/screenshots/
// Environment: CHROMIUM overrides /usr/bin/chromium; REDIS_SERVER
// overrides redis-server.
//
// Invariants: every wait is bounded (the whole run by DEADLINE_MS); the plan
// line comes first and every planned test prints exactly one ok/not ok line;
// every process started here is stopped at the end; the exit status is 1
// when any test failed.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const DEADLINE_MS = 55000; // the whole run
const STEP_MS = 15000; // one test
const WAIT_MS = 5000; // one wait for the page

const [gocdPath, webDir, outArg] = process.argv.slice(2);
if (!gocdPath || !webDir) {
  console.error('usage: node cluster.spec.mjs GOCD WEB_DIR [OUT_DIR]');
  process.exit(2);
}
const outDir = path.join(outArg || process.env.GOC_BROWSER_OUT || '.', 'screenshots');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'goc-browser-cluster-'));
const ROOM = 'lobby';
const DESKTOP = { viewport: { width: 1000, height: 700 } };
const list = (room = ROOM) => `ul.messages[data-room="${room}"]`;

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

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A child process that prints a line saying it is ready. */
function startProc(cmd, args, ready, log) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.on('data', (d) => log.push(...String(d).trimEnd().split('\n')));
  const addr = withTimeout(new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = ready.exec(buf);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}`)));
    proc.on('error', reject);
  }), 10000, `${cmd} start`);
  return { proc, addr };
}

async function stopProc(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc && proc.exitCode;
  const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  proc.kill('SIGTERM');
  try {
    return await withTimeout(exited, 5000, 'exit');
  } catch (e) {
    proc.kill('SIGKILL');
    await exited;
    throw e;
  }
}

const log = []; // the servers' stderr lines, for diagnostics
const ctx = { servers: [] };

/** A page of its own browser (contexts share nothing: the client keeps a
 * session per origin) on server, once joined. */
async function openChat(server, nick) {
  const context = await ctx.browser.newContext(DESKTOP);
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(`http://${server.addr}/?room=${ROOM}&nick=${encodeURIComponent(nick)}`);
  await page.locator('#state[data-state="joined"]').waitFor();
  return page;
}

function waitMessage(page, text) {
  return page.locator(`${list()} li.msg .text`).getByText(text, { exact: true }).first().waitFor();
}

async function members(page) {
  return page.$$eval('#members li', (els) => els.map((e) => e.dataset.nick));
}

async function shot(page, name) {
  fs.mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
}

const tests = [
  ['redis-server and two gocd on it start', async () => {
    const port = await freePort();
    ctx.redis = spawn(process.env.REDIS_SERVER || 'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', tmp, '--logfile', path.join(tmp, 'redis.log')], { stdio: 'ignore' });
    for (let i = 0; i < 2; i++) {
      const args = ['--http', '127.0.0.1:0', '--tcp', 'off', '--web', webDir, '--rate', '5',
        '--log-level', 'warn', '--redis', `redis://127.0.0.1:${port}`, '--node', `node-${i}`];
      const s = startProc(gocdPath, args, /^listening http (\S+)$/m, log);
      ctx.servers.push(s);
      s.addr = await s.addr;
      check(/^127\.0\.0\.1:\d+$/.test(s.addr), `address ${s.addr}`);
    }
    // both answer /healthz once Redis is there
    for (const s of ctx.servers) {
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = (await fetch(`http://${s.addr}/healthz`)).status === 200;
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      check(ok, `/healthz of ${s.addr}`);
    }
  }],

  ['chromium starts headless', async () => {
    ctx.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 10000,
    });
  }],

  ['a page on each server joins the room; each sees the other', async () => {
    ctx.alice = await openChat(ctx.servers[0], 'alice');
    ctx.bob = await openChat(ctx.servers[1], 'bob');
    await ctx.alice.locator('#members li[data-nick="bob"]').waitFor();
    await ctx.alice.locator(`${list()} li.presence`, { hasText: 'bob joined' }).waitFor();
    const a = await members(ctx.alice), b = await members(ctx.bob);
    check(a.includes('alice') && a.includes('bob'), `alice (node-0) sees members ${a}`);
    check(b.includes('alice') && b.includes('bob'), `bob (node-1) sees members ${b}`);
  }],

  ['messages typed on either server appear in both pages, in the same order', async () => {
    await ctx.alice.fill('#text', 'hello from node-0');
    await ctx.alice.press('#text', 'Enter');
    await waitMessage(ctx.bob, 'hello from node-0');
    await ctx.bob.fill('#text', 'hi alice, node-1 here');
    await ctx.bob.press('#text', 'Enter');
    for (const page of [ctx.alice, ctx.bob]) {
      await waitMessage(page, 'hello from node-0');
      await waitMessage(page, 'hi alice, node-1 here');
    }
    const ids = async (p) => p.$$eval(`${list()} li.msg`, (els) => els.map((e) => Number(e.dataset.id)));
    const ia = await ids(ctx.alice), ib = await ids(ctx.bob);
    check(JSON.stringify(ia) === JSON.stringify(ib), `different lists: ${ia} and ${ib}`);
    await shot(ctx.alice, 'cluster-alice-node0');
    await shot(ctx.bob, 'cluster-bob-node1');
  }],

  ['the same nick on the other server is refused visibly (-32002)', async () => {
    const stranger = await ctx.browser.newContext(DESKTOP);
    stranger.setDefaultTimeout(WAIT_MS);
    const page = await stranger.newPage();
    await page.goto(`http://${ctx.servers[1].addr}/`);
    await page.fill('#join-room', ROOM);
    await page.fill('#join-nick', 'alice');
    await page.click('#join button');
    const err = page.locator('#join-error');
    await err.waitFor({ state: 'visible' });
    const text = await err.textContent();
    check(/already in use/.test(text), `error shown: ${text}`);
    check(await err.getAttribute('data-code') === '-32002', 'the code -32002');
    await stranger.close();
  }],

  ['a page closed on one server leaves the other page\'s member list', async () => {
    await ctx.bob.context().close();
    // (the client says a leave after a moment: see web/rooms.js)
    await ctx.alice.locator(`${list()} li.presence`, { hasText: 'bob left' }).waitFor({ timeout: 8000 });
    const a = await members(ctx.alice);
    check(!a.includes('bob'), `alice still sees ${a}`);
  }],

  ['no script errors; both servers exit 0 on SIGTERM', async () => {
    check(ctx.alice.errors.length === 0, `script errors: ${ctx.alice.errors}`);
    for (const s of ctx.servers) {
      const code = await stopProc(s.proc);
      check(code === 0, `exit status ${code}`);
    }
  }],
];

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
  for (const s of ctx.servers) await stopProc(s.proc).catch(() => {});
  if (ctx.redis) ctx.redis.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function main() {
  console.log(`1..${tests.length}`);
  const deadline = setTimeout(() => {
    for (; next < tests.length; next++) report(false, tests[next][0], 'the whole run took too long');
    for (const s of ctx.servers) s.proc.kill('SIGKILL');
    if (ctx.redis) ctx.redis.kill('SIGKILL');
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
  if (failed) for (const line of log.slice(-20)) console.log(`# gocd: ${line}`);
  process.exit(failed ? 1 : 0);
}

main();
