// app.js: the chat client (doc/protocol.md, "Methods", "Joining is a
// snapshot, then a stream" and "Delivery"): one nick in several rooms over
// one reconnecting WebSocket (rpc.js).
//
// After every reconnect the page joins each of its rooms again and catches
// up with chat.history from the last message id it holds, so no list has a
// gap or a duplicate; rooms.js keeps the presence of members quiet across
// it. Scrolling to the top of a room (or its "load older" button) fetches
// the page of history below the oldest message held (chat.history before).
// The nick and rooms are saved on every change (rooms.js Session), so a
// reload rejoins by itself; a nick refused as taken is told apart as "open
// in another tab" (tabs.js) or "taken", and another nick is offered.
//
// Identity (token.js): with a token (from /#token=...) the page presents
// it on the WebSocket, uses its nick, and says in #auth until when; a
// server that wants a token and got none, or an expired one, is told about
// there and the page does not connect.
//
// Invariants:
//  - a room is in session.rooms from the moment the page wants it until it
//    leaves it, and is joined on the open socket at most once at a time;
//  - every text from the network reaches the page through view.js, as text.

import { describeError, suggestNick } from './format.js';
import { LEAVE_SETTLE_MS, goneNotice, loadSession, Session } from './rooms.js';
import { Connection, backoffDelay, wsUrl } from './rpc.js';
import { TabPeers } from './tabs.js';
import { claims, msLeft, serverWantsToken, take } from './token.js';
import { ChatView } from './view.js';

const $ = (id) => document.getElementById(id);
const OLDER_PAGE = 100; // messages per page when scrolling back
const CATCH_UP_PAGE = 500; // messages per chat.history when catching up
const REJOIN_TRIES = 3; // "nick taken" while rejoining: our previous connection may linger
const NICK_TAKEN = -32002;
const NOT_JOINED = -32003;

const stores = [window.sessionStorage, window.localStorage];
const session = new Session(stores);
const view = new ChatView({ select, loadOlder });
const peers = new TabPeers((nick, room) => nick === session.nick &&
  !!session.rooms.get(room) && session.rooms.get(room).joined);
const joining = new Set(); // rooms with a chat.join call out
let sends = 0; // chat.send calls started
let sendErrorAt = 0; // the number of the send whose error is shown (0: none)

const token = take();
const ident = token ? claims(token) : null; // the token's claims, if readable
const HOWTO = 'get one with scripts/token NICK and open this page as /#token=TOKEN';

const conn = new Connection(wsUrl(token), {
  onopen: () => {
    for (const room of session.rooms.values()) join(room, { auto: true });
  },
  onnotify: notified,
  onstate: (s, delay, code, reason) => {
    if (reason === 'token expired') expired();
    else connectionState(s, delay);
  },
});

// ---- identity ----------------------------------------------------------------------------

function showAuth(text, bad) {
  const el = $('auth');
  el.hidden = !text;
  el.textContent = text || '';
  el.classList.toggle('error', !!bad);
}

/** The token ran out: no more connecting; say what to do. */
function expired() {
  conn.stop();
  const when = new Date(ident.exp * 1000).toLocaleString();
  showAuth(`Your token expired (${when}): ${HOWTO}.`, true);
  connectionState('closed');
}

/** Decides from the token whether the page may connect, and shows why
 * not; with a token, its sub is the nick. */
async function identity() {
  if (token && !ident) {
    showAuth(`The token in the page address is not readable: ${HOWTO}.`, true);
    return false;
  }
  if (ident) {
    if (msLeft(ident) <= 0) {
      expired();
      return false;
    }
    const until = new Date(ident.exp * 1000).toLocaleString();
    showAuth(`Signed in as ${ident.sub} (token valid until ${until}).`, false);
    $('join-nick').value = ident.sub;
    $('join-nick').readOnly = true;
    setTimeout(expired, Math.min(msLeft(ident), 2 ** 31 - 1));
    return true;
  }
  if (await serverWantsToken()) {
    showAuth(`This server needs a token: ${HOWTO}.`, true);
    return false;
  }
  return true;
}

// ---- connection state -------------------------------------------------------------------

function connectionState(s, delay) {
  const connected = s === 'open';
  if (!connected) {
    for (const room of session.rooms.values()) room.disconnected();
  }
  const joined = connected && !!session.current && session.current.joined;
  const texts = {
    connecting: 'connecting…',
    open: joined ? `connected as ${session.nick}` : 'connected',
    closed: 'offline',
    waiting: `disconnected; retrying in ${Math.ceil(delay / 1000)} s`,
  };
  view.state(joined ? 'joined' : s, texts[s]);
  if (session.current) view.members(session.current, connected);
}

// ---- joining -----------------------------------------------------------------------------

/** Starts a session as nick in rooms (the first shown unless active says
 * otherwise). auto: restored from storage, so a taken nick may be our own
 * previous connection or another tab. */
function begin(nick, rooms, active, auto) {
  session.nick = nick;
  for (const name of rooms) view.addRoom(session.add(name));
  session.select(active && session.rooms.has(active) ? active : rooms[0]);
  view.me = nick;
  if (auto) view.showChat();
  drawRoom();
  if (conn.isOpen) for (const room of session.rooms.values()) join(room, { auto });
  else conn.start();
}

/** Joins room on the open socket, then catches up from room.lastId.
 * auto: not asked by the user just now (a restore or a reconnect). */
async function join(room, { auto }) {
  if (!conn.isOpen || room.joined || joining.has(room)) return;
  const since = room.lastId;
  let res;
  joining.add(room);
  try {
    res = await conn.call('chat.join', { room: room.name, nick: session.nick });
  } catch (err) {
    joining.delete(room);
    if (session.rooms.get(room.name) === room) await joinFailed(room, err, auto);
    return;
  }
  joining.delete(room);
  if (session.rooms.get(room.name) !== room) {
    conn.call('chat.leave', { room: room.name }).catch(() => {}); // left meanwhile
    return;
  }
  room.snapshot(res.members, Date.now());
  if (room.snapshots === 1) view.insert(room, room.firstHistory(res.history));
  else view.insert(room, room.accept(res.history));
  view.older(room);
  view.showChat();
  if (room === session.current) {
    view.message('error', null);
    connectionState('open');
  }
  if (room.graceUntil) setTimeout(() => graceOver(room), room.graceUntil - Date.now() + 50);
  if (since > 0) await catchUp(room, since);
}

async function joinFailed(room, err, auto) {
  if (err.code === 0) return; // the socket closed: onopen joins again
  const sentence = describeError(err, { nick: session.nick, room: room.name });
  const others = [...session.rooms.values()].some((r) => r !== room && r.joined);
  if (err.code === NICK_TAKEN) {
    const otherTab = !others && await peers.holds(session.nick, room.name);
    if (session.rooms.get(room.name) !== room) return; // settled meanwhile
    if (otherTab) {
      nickConflict(room, `This chat is open as “${session.nick}” in another tab or window. ` +
        'Use that one, or join here with another nick.');
      return;
    }
    if (auto && room.joinTries < REJOIN_TRIES) { // our own previous connection, closing?
      const delay = backoffDelay(room.joinTries++, 300, 2000);
      setTimeout(() => session.rooms.get(room.name) === room && join(room, { auto }), delay);
      return;
    }
    if (!others) {
      nickConflict(room, `${sentence} Choose another nick.`);
      return;
    }
  }
  // a room added next to others (or refused for another reason, say a bad
  // name restored from storage): the page stays in the others
  leaveRoom(room, false);
  if (session.rooms.size) view.message('error', sentence, err.code);
  else view.showJoin({ room: room.name, nick: session.nick, error: sentence, code: err.code });
}

/** The nick cannot be used in room: back to the form, with another nick
 * offered, to join the same rooms with it. */
function nickConflict(room, sentence) {
  const names = [...session.rooms.keys()];
  const active = session.active;
  for (const r of session.rooms.values())
    if (r.joined) conn.call('chat.leave', { room: r.name }).catch(() => {});
  session.rooms.clear(); // not saved: the saved session is the one to retry
  session.active = null;
  view.clearRooms();
  pendingRooms = names;
  view.showJoin({ room: active || room.name, nick: suggestNick(session.nick), error: sentence,
    code: NICK_TAKEN });
  connectionState(conn.isOpen ? 'open' : 'closed');
  const input = $('join-nick');
  input.focus();
  input.select();
}

let pendingRooms = []; // rooms to join with the nick the form gives next

/** Fetches every message of room after id `since`, CATCH_UP_PAGE at a time. */
async function catchUp(room, since) {
  for (;;) {
    let batch;
    try {
      batch = await conn.call('chat.history', { room: room.name, since, limit: CATCH_UP_PAGE });
    } catch (err) {
      if (err.code !== 0) view.message('error', describeError(err, { room: room.name }), err.code);
      return; // a closed socket rejoins and catches up again
    }
    view.insert(room, room.accept(batch));
    if (batch.length < CATCH_UP_PAGE) return;
    since = batch[batch.length - 1].id;
  }
}

/** The page of history below the oldest message room holds. */
async function loadOlder(name) {
  const room = session.rooms.get(name);
  if (!room || !room.hasOlder || room.loadingOlder || !room.oldestId || !conn.isOpen) return;
  room.loadingOlder = true;
  view.older(room);
  try {
    const page = await conn.call('chat.history',
      { room: name, before: room.oldestId, limit: OLDER_PAGE });
    view.insert(room, room.olderPage(page, OLDER_PAGE));
  } catch (err) {
    view.message('error', describeError(err, { room: name }), err.code);
  }
  room.loadingOlder = false;
  view.older(room);
  // still at the top (the page was short, or the list is): keep going
  if (room.hasOlder && room === session.current && view.nearTop(room)) setTimeout(() => loadOlder(name), 0);
}

/** Says the leaves of room that have settled (rooms.js). */
function settle(room) {
  if (session.rooms.get(room.name) !== room) return;
  for (const text of room.settle(Date.now())) view.notice(room, text);
  if (room === session.current) view.members(room, conn.isOpen);
}

function graceOver(room) {
  if (session.rooms.get(room.name) !== room) return;
  view.notice(room, goneNotice(room.graceOver(Date.now())));
  if (room === session.current) view.members(room, conn.isOpen);
}

/** Leaves room: told to the server when `tell` and connected. */
function leaveRoom(room, tell) {
  session.remove(room.name);
  view.removeRoom(room.name);
  if (tell && room.joined && conn.isOpen) conn.call('chat.leave', { room: room.name }).catch(() => {});
  room.joined = false;
  if (session.current) drawRoom();
  else view.showJoin({ nick: session.nick || '' });
  connectionState(conn.isOpen ? 'open' : 'closed');
}

// ---- notifications -----------------------------------------------------------------------

function notified(method, params) {
  const room = params && session.rooms.get(params.room);
  if (!room) return;
  if (method === 'chat.message') {
    const fresh = room.accept([params]);
    view.insert(room, fresh);
    if (room !== session.current && fresh.length && params.nick !== session.nick) {
      room.unread += fresh.length;
      view.tabs(session);
    }
  } else if (method === 'chat.presence') {
    view.notice(room, room.presence(params.event, params.nick, Date.now()));
    if (params.event === 'leave') setTimeout(() => settle(room), LEAVE_SETTLE_MS + 50);
    if (room === session.current) view.members(room, conn.isOpen);
  }
}

// ---- the user's actions ------------------------------------------------------------------

function drawRoom() {
  const room = session.current;
  view.tabs(session);
  if (!room) return;
  view.select(room);
  view.members(room, conn.isOpen);
  view.message('error', null);
}

function select(name) {
  if (!session.select(name)) return;
  drawRoom();
  connectionState(conn.isOpen ? 'open' : 'closed');
}

$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = $('join-room').value.trim();
  const nick = $('join-nick').value.trim();
  if (!room || !nick) return;
  view.message('join-error', null);
  const rooms = [room, ...pendingRooms.filter((r) => r !== room)];
  pendingRooms = [];
  begin(nick, rooms, room, false);
});

$('add-room-toggle').addEventListener('click', () => {
  const form = $('add-room');
  form.hidden = !form.hidden;
  $('add-room-toggle').setAttribute('aria-expanded', String(!form.hidden));
  if (!form.hidden) $('add-room-name').focus();
});

$('add-room').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('add-room-name').value.trim().replace(/^#/, '');
  if (!name) return;
  if (!session.rooms.has(name)) {
    const room = session.add(name);
    view.addRoom(room);
    join(room, { auto: false });
  }
  $('add-room-name').value = '';
  $('add-room').hidden = true;
  $('add-room-toggle').setAttribute('aria-expanded', 'false');
  select(name);
});

$('send').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('text');
  const text = input.value;
  const room = session.current;
  if (!text || !room) return;
  const n = ++sends;
  try {
    const msg = await conn.call('chat.send', { room: room.name, text });
    if (input.value === text) input.value = '';
    // Only a send started after the error shown clears it: the replies to
    // a burst of sends must not hide the error one of them got.
    if (n > sendErrorAt) view.message('error', null);
    view.insert(room, room.accept([msg]));
  } catch (err) {
    sendErrorAt = Math.max(sendErrorAt, n);
    view.message('error', describeError(err, { nick: session.nick, room: room.name }), err.code);
    if (err.code === NOT_JOINED && conn.isOpen) {
      room.joined = false;
      join(room, { auto: true });
    }
  }
});

$('leave').addEventListener('click', () => {
  if (session.current) leaveRoom(session.current, true);
});

window.addEventListener('pagehide', () => conn.stop());
window.addEventListener('pageshow', (ev) => ev.persisted && conn.start());

/** Where the page starts: ?room=&nick= in the address, else the saved
 * session (this tab's, else the last one of any tab), else the form; with
 * a token, always as its nick. */
async function start() {
  const q = new URLSearchParams(location.search);
  let saved = loadSession(stores);
  const qRoom = q.get('room');
  let qNick = q.get('nick');
  if (!(await identity())) {
    view.showJoin({ room: qRoom || '', nick: ident ? ident.sub : qNick || '' });
    $('join').querySelector('button').disabled = true;
    connectionState('closed');
    return;
  }
  if (ident) {
    qNick = qRoom ? ident.sub : null;
    if (saved && saved.nick !== ident.sub) saved = null;
  }
  if (qRoom && qNick) {
    const rooms = saved && saved.nick === qNick ? [...saved.rooms] : [];
    if (!rooms.includes(qRoom)) rooms.push(qRoom);
    begin(qNick, rooms, saved && saved.nick === qNick ? saved.active || qRoom : qRoom, true);
    return;
  }
  if (saved && saved.nick && saved.rooms.length) {
    begin(saved.nick, saved.rooms, saved.active, true);
    return;
  }
  view.showJoin({ room: qRoom || (saved && saved.active) || '',
    nick: ident ? ident.sub : qNick || (saved && saved.nick) || '' });
  conn.start();
}

start();
