// app.js: the chat client (PROTOCOL.md, "Methods" and "Delivery").
//
// The page joins one room with one nick over a reconnecting WebSocket
// (rpc.js). After every reconnect it joins again and catches up with
// chat.history from the last message id it has shown, so the list has no gap
// and no duplicate.
//
// Invariants:
//  - #messages holds each message id at most once, message items in
//    ascending id order (presence notices are appended where they happen);
//  - state.lastId is the largest id shown for state.room (0: none yet);
//  - all text from the network is put in the page with textContent only.
//
// Identity (token.js): with a token (from /#token=...) the page presents
// it, joins under its nick, and says when it expires; a server that wants
// a token and got none, or an expired one, is told about in #auth and the
// page does not connect.

import { Connection, RpcError, backoffDelay, wsUrl } from './rpc.js';
import { claims, msLeft, serverWantsToken, take } from './token.js';

const $ = (id) => document.getElementById(id);
const MAX_SHOWN = 1000; // list items kept; the oldest go first

const ERRORS = {
  [-32001]: 'this needs a WebSocket connection',
  [-32002]: 'that nick is taken in this room',
  [-32003]: 'not joined to this room',
  [-32004]: 'rate limited: slow down',
  [-32005]: 'too large',
  [-32007]: 'not allowed by your token',
};

const HOWTO = 'get one with scripts/token NICK and open this page as /#token=TOKEN';

/** A user-facing sentence for a failed call. */
function describe(err) {
  if (!(err instanceof RpcError)) return String(err);
  if (err.code === 0) return err.message;
  const known = ERRORS[err.code];
  if (known) return `${known} (${err.code})`;
  return `${err.message} (${err.code})`;
}

const state = {
  room: null, // the room the page wants to be in, or null
  nick: null, // the nick for it
  joined: false, // whether the current socket is joined to state.room
  lastId: 0, // the largest message id shown
  ids: new Set(), // ids shown
  members: new Set(), // nicks present in the room
  joinTry: 0, // consecutive "nick taken" answers while rejoining
  sends: 0, // chat.send calls started
  sendErrorAt: 0, // the number of the send whose error is shown (0: none)
};

const token = take();
const ident = token ? claims(token) : null; // the token's claims, if readable

const conn = new Connection(wsUrl(token), {
  onopen: () => {
    if (state.room) join(true);
  },
  onnotify: notified,
  onstate: (s, delay, code, reason) => {
    if (reason === 'token expired') expired();
    else showState(s, delay);
  },
});

// ---- identity ------------------------------------------------------------------------------

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
  showState('closed');
}

/** Decides from the token whether the page may connect; shows why not. */
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

// ---- connection state ---------------------------------------------------------------

function showState(s, delay) {
  const el = $('state');
  let text = { connecting: 'connecting…', open: 'connected', closed: 'offline' }[s];
  if (s === 'waiting') text = `disconnected; retrying in ${(delay / 1000).toFixed(1)} s`;
  if (s !== 'open') state.joined = false;
  if (s === 'open' && state.joined) text = `connected as ${state.nick}`;
  el.dataset.state = s === 'open' && state.joined ? 'joined' : s;
  el.textContent = text;
}

function showError(id, err) {
  const el = $(id);
  el.hidden = !err;
  el.textContent = err ? describe(err) : '';
}

// ---- joining ---------------------------------------------------------------------------

/** Asks for room/nick: connects if needed; onopen then joins. */
function want(room, nick, auto) {
  if (room !== state.room) resetRoom();
  state.room = room;
  state.nick = nick;
  state.joinTry = auto ? 0 : -1; // -1: a taken nick is the user's to fix
  localStorage.setItem('goc.room', room);
  localStorage.setItem('goc.nick', nick);
  if (conn.isOpen) join(auto);
  else conn.start();
}

/** Joins state.room on the open socket, then catches up from state.lastId.
 * rejoin: whether a taken nick may be our own previous connection, not yet
 * gone on the server (retried a few times). */
async function join(rejoin) {
  const { room, nick } = state;
  const since = state.lastId;
  let res;
  try {
    res = await conn.call('chat.join', { room, nick });
  } catch (err) {
    if (room !== state.room) return;
    const retry = err.code === -32002 && rejoin && state.joinTry >= 0 && state.joinTry < 5;
    if (retry) {
      const delay = backoffDelay(state.joinTry++, 300, 3000);
      setTimeout(() => conn.isOpen && room === state.room && join(true), delay);
      showError('join-error', null);
      return;
    }
    if (err.code === 0) return; // the socket closed: onopen joins again
    showError('join-error', err);
    leaveView();
    return;
  }
  if (room !== state.room) return;
  state.joined = true;
  state.joinTry = 0;
  showError('join-error', null);
  showError('error', null);
  showState('open');
  enterView();
  setMembers(res.members);
  addMessages(res.history);
  if (since > 0) await catchUp(room, since);
}

/** Fetches every message of room after id `since`, 500 at a time. */
async function catchUp(room, since) {
  for (;;) {
    let batch;
    try {
      batch = await conn.call('chat.history', { room, since, limit: 500 });
    } catch (err) {
      if (err.code !== 0) showError('error', err);
      return; // a closed socket rejoins and catches up again
    }
    addMessages(batch);
    if (batch.length < 500) return;
    since = batch[batch.length - 1].id;
  }
}

async function leave() {
  const room = state.room;
  state.room = null;
  state.joined = false;
  leaveView();
  resetRoom();
  showState(conn.isOpen ? 'open' : 'closed');
  if (conn.isOpen) {
    try {
      await conn.call('chat.leave', { room });
    } catch {
      // not joined any more either way
    }
  }
}

// ---- notifications ---------------------------------------------------------------------

function notified(method, params) {
  if (!params || params.room !== state.room) return;
  if (method === 'chat.message') {
    addMessages([params]);
  } else if (method === 'chat.presence') {
    if (params.event === 'join') state.members.add(params.nick);
    else if (params.event === 'leave') state.members.delete(params.nick);
    renderMembers();
    addNotice(`${params.nick} ${params.event === 'join' ? 'joined' : 'left'}`);
  }
}

// ---- rendering ---------------------------------------------------------------------------

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function resetRoom() {
  state.lastId = 0;
  state.ids.clear();
  state.members.clear();
  $('messages').replaceChildren();
  $('members').replaceChildren();
}

function enterView() {
  $('join').hidden = true;
  $('chat').hidden = false;
  $('room-title').textContent = `#${state.room}`;
  document.title = `#${state.room} · goc chat`;
}

function leaveView() {
  $('chat').hidden = true;
  $('join').hidden = false;
  document.title = 'goc chat';
}

/** Shows messages not shown yet, each at its place in id order. */
function addMessages(list) {
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  for (const m of list || []) {
    if (m.room !== state.room || state.ids.has(m.id)) continue;
    state.ids.add(m.id);
    const li = el('li', 'msg');
    li.dataset.id = String(m.id);
    const time = el('time', 'ts', new Date(m.ts).toLocaleTimeString());
    time.dateTime = new Date(m.ts).toISOString();
    li.append(time, el('span', 'nick', m.nick), el('span', 'text', m.text));
    if (m.id > state.lastId) {
      box.append(li);
      state.lastId = m.id;
    } else {
      const later = [...box.querySelectorAll('li.msg')].find((x) => Number(x.dataset.id) > m.id);
      box.insertBefore(li, later || null);
    }
  }
  trim(box);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

/** Drops the oldest items beyond MAX_SHOWN. A dropped id never comes back:
 * catching up asks only for ids above state.lastId. */
function trim(box) {
  while (box.children.length > MAX_SHOWN) {
    const first = box.firstElementChild;
    if (first.dataset.id) state.ids.delete(Number(first.dataset.id));
    first.remove();
  }
}

function addNotice(text) {
  const box = $('messages');
  box.append(el('li', 'presence', text));
  trim(box);
  box.scrollTop = box.scrollHeight;
}

function setMembers(nicks) {
  state.members = new Set(nicks || []);
  renderMembers();
}

function renderMembers() {
  const sorted = [...state.members].sort((a, b) => a.localeCompare(b));
  $('members').replaceChildren(
    ...sorted.map((n) => el('li', n === state.nick ? 'me' : '', n)),
  );
  $('member-count').textContent = `(${sorted.length})`;
}

// ---- wiring ------------------------------------------------------------------------------

$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = $('join-room').value.trim();
  const nick = $('join-nick').value.trim();
  if (room && nick) want(room, nick, false);
});

$('send').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('text');
  const text = input.value;
  if (!text || !state.room) return;
  const n = ++state.sends;
  try {
    const msg = await conn.call('chat.send', { room: state.room, text });
    if (input.value === text) input.value = '';
    // Only a send started after the error shown clears it: the replies to
    // a burst of sends must not hide the error one of them got.
    if (n > state.sendErrorAt) showError('error', null);
    addMessages([msg]);
  } catch (err) {
    state.sendErrorAt = Math.max(state.sendErrorAt, n);
    showError('error', err); // the text stays in the box to send again
    if (err.code === -32003 && conn.isOpen) join(true);
  }
});

$('leave').addEventListener('click', leave);

window.addEventListener('pagehide', () => conn.stop());
window.addEventListener('pageshow', (ev) => ev.persisted && conn.start());

async function start() {
  const q = new URLSearchParams(location.search);
  const room = q.get('room') || localStorage.getItem('goc.room') || '';
  const nick = q.get('nick') || localStorage.getItem('goc.nick') || '';
  $('join-room').value = room;
  $('join-nick').value = nick;
  if (!(await identity())) {
    $('join').querySelector('button').disabled = true;
    return;
  }
  conn.start();
  const who = ident ? ident.sub : q.get('nick');
  if (q.get('room') && who) want(room, who, true);
}

start();
