// client_test.mjs: the browser client's DOM-free modules (web/format.js,
// web/rooms.js, web/chart.js's scales) run in node. Prints TAP.
//
// Usage: node client_test.mjs WEB_DIR
//
// What the page test (chat.spec.mjs) cannot reach cheaply is here: dates
// from other days, every error code in words, presence across a reconnect
// step by step, the pages of history, the saved session.

import path from 'node:path';
import { pathToFileURL } from 'node:url';

const webDir = path.resolve(process.argv[2] || 'web');
const load = (name) => import(pathToFileURL(path.join(webDir, name)).href);
const format = await load('format.js');
const rooms = await load('rooms.js');
const chart = await load('chart.js');

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function eq(a, b, what) {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`${what}: got ${ja}, want ${jb}`);
}

/** A Storage stand-in. */
function memStore() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), m };
}

const msg = (id, room = 'r', nick = 'n') => ({ id, room, nick, text: `t${id}`, ts: 0 });

// ---- format.js ---------------------------------------------------------------------------

test('nick colours are stable and spread', () => {
  eq(format.nickColor('alice'), format.nickColor('alice'), 'same nick, same colour');
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const c = format.nickColor(`user${i}`);
    check(Number.isInteger(c) && c >= 0 && c < format.NICK_COLORS, `colour ${c}`);
    seen.add(c);
  }
  eq(seen.size, format.NICK_COLORS, 'every colour is used by 200 nicks');
});

test('times: the clock today, the day otherwise, the year when not this one', () => {
  const now = new Date(2026, 11, 8, 15, 30);
  const today = format.formatTime(new Date(2026, 11, 8, 9, 5).getTime(), now, 'en-GB');
  eq(today.text, '09:05', 'today');
  const earlier = format.formatTime(new Date(2026, 11, 7, 23, 59).getTime(), now, 'en-GB');
  check(/7 Dec/.test(earlier.text) && /23:59/.test(earlier.text) && !/2026/.test(earlier.text),
    `yesterday: ${earlier.text}`);
  const old = format.formatTime(new Date(2025, 0, 2, 8, 0).getTime(), now, 'en-GB');
  check(/2 Jan 2025/.test(old.text) && /08:00/.test(old.text), `last year: ${old.text}`);
  check(/2025/.test(old.title) && /January/.test(old.title), `title: ${old.title}`);
});

test('errors in words, never a raw code', () => {
  const ctx = { nick: 'alice', room: 'lobby' };
  for (const code of [-32001, -32002, -32003, -32004, -32005, -32006, -32600, -32601, -32603]) {
    const s = format.describeError({ code, message: 'raw' }, ctx);
    check(!/-?\d{5}/.test(s) && s.length > 10, `${code}: ${s}`);
  }
  eq(format.describeError({ code: -32002, message: 'x' }, ctx),
    'The nick “alice” is already in use in #lobby.', '-32002');
  check(/too fast/.test(format.describeError({ code: -32004 }, ctx)), '-32004');
  eq(format.describeError({ code: -32602, message: 'invalid room: 1-64 characters' }, ctx),
    'Invalid room: 1-64 characters.', '-32602 keeps the server\'s words');
  check(/Not connected/.test(format.describeError({ code: 0, message: 'x' })), 'code 0');
});

test('another nick is offered within 32 code points', () => {
  eq(format.suggestNick('alice'), 'alice2', 'alice');
  eq(format.suggestNick('alice2'), 'alice3', 'alice2');
  eq(format.suggestNick('bob9'), 'bob10', 'bob9');
  const long = 'é'.repeat(32);
  const s = format.suggestNick(long);
  eq([...s].length, 32, 'length of the offer for a 32-character nick');
  check(s.endsWith('2') && s !== long, s);
});

test('counts, bytes and rates are formatted', () => {
  eq(format.formatCount(1791672), '1.8M', 'a large count');
  eq(format.formatCount(9999), '9,999', 'below 10 000');
  eq(format.formatCount(0.5), '0.5', 'a fraction');
  eq(format.formatBytes(1791672), '1.7 MiB', 'bytes');
  eq(format.formatBytes(512), '512 B', 'bytes');
  eq(format.formatBytes(64 * 1024 * 1024), '64 MiB', 'whole MiB');
  eq(format.formatRate(12.25), '12.3/s', 'rate');
  eq(format.formatRate(0.25), '0.25/s', 'slow rate');
  eq(format.formatRate(null), '–', 'no rate');
});

// ---- rooms.js ----------------------------------------------------------------------------

test('messages: each id once, in order, oldest and last tracked', () => {
  const r = new rooms.Room('r');
  eq(r.accept([msg(5), msg(3), msg(5), msg(4, 'other')]).map((m) => m.id), [3, 5], 'fresh');
  eq(r.accept([msg(3), msg(7)]).map((m) => m.id), [7], 'only the new');
  eq([r.oldestId, r.lastId], [3, 7], 'bounds');
});

test('scrolling back: older pages until a short one', () => {
  const r = new rooms.Room('r');
  const full = Array.from({ length: rooms.JOIN_HISTORY }, (_, i) => msg(100 + i));
  r.firstHistory(full);
  check(r.hasOlder, 'a full join history may have more above');
  r.olderPage(Array.from({ length: 10 }, (_, i) => msg(90 + i)), 10);
  check(r.hasOlder && r.oldestId === 90, 'a full page');
  r.olderPage([msg(1), msg(2)], 10);
  check(!r.hasOlder && r.oldestId === 1, 'a short page is the beginning');
  const s = new rooms.Room('s');
  s.firstHistory([msg(1)]);
  check(!s.hasOlder, 'a short join history is all there is');
  s.forget([1], 0);
  check(s.hasOlder, 'dropping shown messages makes them loadable again');
});

test('presence: a reconnect announces nobody who never left', () => {
  const r = new rooms.Room('r');
  r.snapshot(['me', 'bob', 'carol'], 0);
  eq(r.presence('join', 'dave', 0), 'dave joined', 'a newcomer');
  // a server shutting down: bob's leave comes just before our own cut-off
  eq(r.presence('leave', 'bob', 0), null, 'a leave is not said at once');
  eq(r.memberList().find((m) => m.nick === 'bob').state, 'leaving', 'bob leaving');
  r.disconnected();
  eq(r.unknown().sort(), ['bob', 'carol', 'dave', 'me'], 'unknown while disconnected');
  r.snapshot(['me', 'carol'], 1000); // bob and dave not back yet
  eq(r.memberList(), [{ nick: 'bob', state: 'unknown' }, { nick: 'carol', state: 'here' },
    { nick: 'dave', state: 'unknown' }, { nick: 'me', state: 'here' }], 'after the snapshot');
  eq(r.settle(1e9), [], 'a disconnection cancels the leave');
  eq(r.presence('join', 'bob', 1000), null, 'bob comes back quietly');
  eq(r.presence('join', 'erin', 1000), 'erin joined', 'erin is new');
  eq(r.graceOver(1000 + rooms.GRACE_MS - 1), [], 'not yet');
  eq(r.graceOver(1000 + rooms.GRACE_MS), ['dave'], 'dave did not come back');
  eq(rooms.goneNotice(['dave']), 'dave left while you were away', 'one notice');
  eq(rooms.goneNotice(['a', 'b', 'c']), 'a, b and c left while you were away', 'several');
  eq(r.presence('leave', 'carol', 5000), null, 'a leave, said later');
  eq(r.presence('leave', 'carol', 5100), null, 'a repeated leave');
  eq(r.settle(5000 + rooms.LEAVE_SETTLE_MS - 1), [], 'not settled yet');
  eq(r.settle(5000 + rooms.LEAVE_SETTLE_MS), ['carol left'], 'settled');
  check(!r.members.has('carol'), 'carol is gone');
  // a reload: a leave then a join within the settling time says nothing
  r.presence('leave', 'erin', 6000);
  eq(r.presence('join', 'erin', 6500), null, 'erin reloaded');
  eq(r.settle(1e9), [], 'nothing to say about erin');
  const first = new rooms.Room('f');
  first.snapshot(['x'], 0);
  eq(first.unknown(), [], 'the first snapshot marks nobody unknown');
});

test('the session is saved and restored', () => {
  const tab = memStore();
  const shared = memStore();
  const s = new rooms.Session([tab, shared]);
  s.nick = 'alice';
  s.add('lobby');
  s.add('dev');
  s.select('dev');
  eq(rooms.loadSession([tab, shared]), { nick: 'alice', rooms: ['lobby', 'dev'], active: 'dev' }, 'saved');
  s.remove('dev');
  eq(rooms.loadSession([memStore(), shared]), { nick: 'alice', rooms: ['lobby'], active: 'lobby' },
    'the other store has it too');
  const bad = memStore();
  bad.setItem('goc.chat.session', '{not json');
  eq(rooms.loadSession([bad]), null, 'malformed');
  bad.setItem('goc.chat.session', JSON.stringify({ nick: 'x', rooms: ['a', 5], active: 'zz' }));
  eq(rooms.loadSession([bad]), { nick: 'x', rooms: ['a'], active: 'a' }, 'cleaned');
  const r = s.rooms.get('lobby');
  r.unread = 3;
  eq(s.unread(), 3, 'unread total');
  s.select('lobby');
  eq(s.unread(), 0, 'selecting a room reads it');
});

// ---- chart.js ----------------------------------------------------------------------------

test('axis steps are round, in bytes too', () => {
  eq(chart.niceScale(1791672), [500000, 2000000], 'decimal');
  eq(chart.niceScale(3), [1, 3], 'small');
  eq(chart.niceScale(1, false, true), [1, 1], 'whole steps for counts');
  eq(chart.niceScale(1.7 * 1024 * 1024, true), [512 * 1024, 2 * 1024 * 1024], 'binary');
  eq(chart.niceScale(0), [1, 1], 'nothing yet');
});

// ---- the runner --------------------------------------------------------------------------

console.log(`1..${tests.length}`);
let failed = 0;
tests.forEach(([name, fn], i) => {
  try {
    fn();
    console.log(`ok ${i + 1} - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok ${i + 1} - ${name}`);
    console.log(`# ${String(err.message).split('\n').join('\n# ')}`);
  }
});
process.exit(failed ? 1 : 0);
