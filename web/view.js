// view.js: the chat page's DOM: the join form, the room tabs with their
// unread counts, one message list per room (kept while another room is
// shown, so each keeps its place), the members panel (a side column on wide
// screens, a drawer on narrow ones), the connection state and the errors.
// The state it draws lives in rooms.js; app.js decides when to draw.
//
// Invariants:
//  - text from the network reaches the page through textContent (and
//    attributes set with setAttribute) only, never as markup;
//  - each room's list holds its "older" item first, then messages in
//    ascending id order, with presence notices where they happened;
//  - a list holds at most MAX_SHOWN messages: appending beyond drops the
//    oldest (they can be loaded again from the history);
//  - a message is marked "cont" (drawn without its nick and time line)
//    exactly when the item just above it is a message by the same nick
//    less than GROUP_MS older.

import { formatTime, nickColor } from './format.js';

const MAX_SHOWN = 1000;
const GROUP_MS = 5 * 60 * 1000; // a message this soon after the last one by its nick joins it
const NEAR_TOP_PX = 60; // scrolling this close to the top loads older messages
const NEAR_BOTTOM_PX = 40; // a list this close to its end follows new messages

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Marks li (a message item, or anything else: ignored) "cont" when it
 * continues the message just above it (see the invariants). */
function group(li) {
  if (!li || !li.classList.contains('msg')) return;
  const prev = li.previousElementSibling;
  const cont = !!prev && prev.classList.contains('msg') && prev.dataset.nick === li.dataset.nick &&
    Number(li.dataset.ts) - Number(prev.dataset.ts) < GROUP_MS;
  li.classList.toggle('cont', cont);
}

export class ChatView {
  /**
   * on: callbacks from the page: select(name), loadOlder(name).
   */
  constructor(on) {
    this.on = on;
    this.lists = new Map(); // room name -> its <ul class="messages">
    this.me = null; // the nick the page uses, for "mine"
    this.resized = new ResizeObserver((entries) => {
      for (const { target: ul } of entries) {
        // at the end before the resize (its scroll event may have come
        // after, and seen the end moved): at the end after it
        const before = Number(ul.dataset.height || ul.clientHeight);
        const atEnd = ul.scrollHeight - ul.scrollTop - before < NEAR_BOTTOM_PX;
        ul.dataset.height = String(ul.clientHeight);
        if ((atEnd || this.following(ul)) && ul.offsetParent) {
          ul.dataset.follow = '1';
          ul.scrollTop = ul.scrollHeight;
        }
      }
    });
    $('members-toggle').addEventListener('click', () => this.toggleMembers());
    $('members-close').addEventListener('click', () => this.toggleMembers(false));
    // the drawer (narrow screens) closes on Escape and on a click beside it
    document.addEventListener('keydown', (ev) => ev.key === 'Escape' && this.toggleMembers(false));
    document.addEventListener('click', (ev) => {
      if (!ev.target.closest('#members-panel, #members-toggle')) this.toggleMembers(false);
    });
  }

  // ---- screens ----------------------------------------------------------------------

  showJoin({ room = '', nick = '', error = null, code } = {}) {
    $('chat').hidden = true;
    $('join').hidden = false;
    if (room) $('join-room').value = room;
    if (nick) $('join-nick').value = nick;
    this.message('join-error', error, error ? code : undefined);
    document.title = 'goc chat';
  }

  showChat() {
    $('join').hidden = true;
    if (!$('chat').hidden) return;
    $('chat').hidden = false;
    this.message('join-error', null);
    for (const ul of this.lists.values())
      if (!ul.hidden && ul.dataset.follow !== '0') ul.scrollTop = ul.scrollHeight;
  }

  /** Shows text in the element id, or hides it when text is null. */
  message(id, text, code) {
    const e = $(id);
    e.hidden = !text;
    e.textContent = text || '';
    if (code !== undefined) e.dataset.code = String(code);
    else delete e.dataset.code;
  }

  state(dataState, text) {
    const e = $('state');
    e.dataset.state = dataState;
    e.textContent = text;
    e.title = text;
  }

  // ---- rooms ------------------------------------------------------------------------

  addRoom(room) {
    if (this.lists.has(room.name)) return this.lists.get(room.name);
    const ul = el('ul', 'messages');
    ul.dataset.room = room.name;
    ul.setAttribute('aria-live', 'polite');
    ul.hidden = true;
    const older = el('li', 'older');
    ul.append(older);
    ul.addEventListener('scroll', () => {
      ul.dataset.follow = ul.scrollHeight - ul.scrollTop - ul.clientHeight < NEAR_BOTTOM_PX ? '1' : '0';
      if (ul.scrollTop < NEAR_TOP_PX) this.on.loadOlder(room.name);
    });
    // a list that follows its end keeps following when it shrinks (an
    // error shown below it, a phone's keyboard opening)
    this.resized.observe(ul);
    $('lists').append(ul);
    this.lists.set(room.name, ul);
    this.older(room);
    return ul;
  }

  removeRoom(name) {
    const ul = this.lists.get(name);
    if (ul) ul.remove();
    this.lists.delete(name);
  }

  clearRooms() {
    for (const name of [...this.lists.keys()]) this.removeRoom(name);
    $('room-tabs').replaceChildren();
  }

  /** Shows room (a Room) as the current one. A list hidden keeps its place:
   * at the end if it followed the end, else where its reader left it. */
  select(room) {
    for (const [name, ul] of this.lists) {
      if (name === room.name || ul.hidden) continue;
      ul.dataset.scroll = String(ul.scrollTop);
      ul.hidden = true;
    }
    $('room-title').textContent = `#${room.name}`;
    $('room-title').title = `#${room.name}`;
    const ul = this.lists.get(room.name);
    if (!ul || !ul.hidden) return;
    ul.hidden = false;
    ul.scrollTop = this.following(ul) ? ul.scrollHeight : Number(ul.dataset.scroll || 0);
  }

  /** Whether a list follows its end: new messages scroll it down. Noted at
   * each scroll (by the reader or by us), so a list hidden or resized since
   * keeps the answer; never scrolled: yes. */
  following(ul) {
    return ul.dataset.follow !== '0';
  }

  /** The tab strip: one tab per room (in session order), the active one
   * selected, each with its unread count. */
  tabs(session) {
    const items = [];
    for (const room of session.rooms.values()) {
      const b = el('button', 'tab');
      b.type = 'button';
      b.setAttribute('role', 'tab');
      b.dataset.room = room.name;
      b.setAttribute('aria-selected', String(room.name === session.active));
      b.append(el('span', 'tab-name', `#${room.name}`));
      const badge = el('span', 'unread', room.unread > 99 ? '99+' : String(room.unread));
      badge.hidden = room.unread === 0;
      badge.setAttribute('aria-label', `${room.unread} unread`);
      b.append(badge);
      b.title = `#${room.name}`;
      b.addEventListener('click', () => this.on.select(room.name));
      const li = el('li');
      li.setAttribute('role', 'presentation');
      li.append(b);
      items.push(li);
    }
    $('room-tabs').replaceChildren(...items);
    const n = session.unread();
    const name = session.active ? `#${session.active} · ` : '';
    document.title = `${n ? `(${n}) ` : ''}${name}goc chat`;
  }

  // ---- messages ---------------------------------------------------------------------

  messageItem(m) {
    const li = el('li', m.nick === this.me ? 'msg mine' : 'msg');
    li.dataset.id = String(m.id);
    li.dataset.nick = m.nick;
    li.dataset.ts = String(m.ts);
    const nick = el('span', `nick nick-c${nickColor(m.nick)}`, m.nick);
    nick.title = m.nick;
    const t = formatTime(m.ts);
    const time = el('time', 'ts', t.text);
    time.dateTime = new Date(m.ts).toISOString();
    time.title = t.title;
    li.title = t.title; // the time of a message drawn without its own
    li.append(nick, time, el('span', 'text', m.text));
    return li;
  }

  /** Puts messages (new to the room, ascending ids, from Room.accept) at
   * their places in the room's list. */
  insert(room, msgs) {
    const ul = this.lists.get(room.name);
    if (!ul || !msgs.length) return;
    const follow = this.following(ul);
    const shown = ul.querySelectorAll('li.msg');
    const first = shown[0];
    const last = shown[shown.length - 1];
    const firstId = first ? Number(first.dataset.id) : Infinity;
    const lastId = last ? Number(last.dataset.id) : 0;
    const before = ul.scrollHeight;
    let older = 0;
    const added = [];
    for (const m of msgs) {
      const li = this.messageItem(m);
      added.push(li);
      if (m.id > lastId) {
        ul.append(li);
      } else if (m.id < firstId) {
        first.before(li); // msgs ascend: each lands just above the first shown
        older++;
      } else {
        const later = [...ul.querySelectorAll('li.msg')].find((x) => Number(x.dataset.id) > m.id);
        ul.insertBefore(li, later || null);
      }
    }
    for (const li of added) {
      group(li);
      group(li.nextElementSibling);
    }
    if (older && !follow) ul.scrollTop += ul.scrollHeight - before; // keep the reader's place
    if (follow) {
      this.trim(room, ul);
      if (ul.offsetParent) ul.scrollTop = ul.scrollHeight;
    }
  }

  /** Drops the oldest messages beyond MAX_SHOWN (only while the reader
   * follows the end: one scrolled back keeps what it loaded). */
  trim(room, ul) {
    const shown = ul.querySelectorAll('li.msg');
    if (shown.length <= MAX_SHOWN) return;
    const dropped = [];
    for (let i = 0; i < shown.length - MAX_SHOWN; i++) {
      dropped.push(Number(shown[i].dataset.id));
      shown[i].remove();
    }
    const firstLeft = shown[shown.length - MAX_SHOWN];
    room.forget(dropped, Number(firstLeft.dataset.id));
    // notices above the first message shown belong to dropped history
    while (ul.children[1] && !ul.children[1].classList.contains('msg')) ul.children[1].remove();
    group(ul.children[1]);
    this.older(room);
  }

  notice(room, text) {
    const ul = this.lists.get(room.name);
    if (!ul || !text) return;
    const follow = this.following(ul);
    ul.append(el('li', 'presence', text));
    if (follow && ul.offsetParent) ul.scrollTop = ul.scrollHeight;
  }

  /** The item above a room's messages: a "load older" button while the
   * server may hold more, else the beginning of the room. */
  older(room) {
    const ul = this.lists.get(room.name);
    if (!ul) return;
    const li = ul.firstElementChild;
    if (room.hasOlder) {
      let b = li.querySelector('button');
      if (!b) {
        b = el('button', 'load-older', 'Load older messages');
        b.type = 'button';
        b.addEventListener('click', () => this.on.loadOlder(room.name));
        li.replaceChildren(b);
      }
      b.disabled = room.loadingOlder;
      b.textContent = room.loadingOlder ? 'Loading…' : 'Load older messages';
    } else {
      li.replaceChildren(el('span', 'beginning', room.ids.size ? `Beginning of #${room.name}` :
        `No messages in #${room.name} yet`));
    }
  }

  /** Whether the room's list is scrolled near its top (more may be
   * wanted). */
  nearTop(room) {
    const ul = this.lists.get(room.name);
    return !!ul && !ul.hidden && ul.scrollTop < NEAR_TOP_PX;
  }

  // ---- members ----------------------------------------------------------------------

  members(room, connected) {
    const list = room.memberList();
    const items = list.map(({ nick, state }) => {
      const li = el('li', `nick-c${nickColor(nick)}`);
      li.dataset.nick = nick;
      if (nick === this.me) li.classList.add('me');
      if (!connected || state !== 'here') {
        li.classList.add('unknown');
        li.title = !connected ? `${nick}: unknown while disconnected` :
          state === 'leaving' ? `${nick}: leaving` : `${nick}: reconnecting?`;
      } else {
        li.title = nick;
      }
      li.append(el('span', 'member-name', nick));
      return li;
    });
    $('members').replaceChildren(...items);
    const here = list.filter((m) => connected && m.state === 'here').length;
    const count = connected ? String(here) : '?';
    $('member-count').textContent = count;
    $('members-toggle-count').textContent = count;
    $('members-panel').classList.toggle('stale', !connected);
    $('members-note').hidden = connected;
  }

  toggleMembers(open) {
    const panel = $('members-panel');
    const want = open === undefined ? !panel.classList.contains('open') : open;
    panel.classList.toggle('open', want);
    $('members-toggle').setAttribute('aria-expanded', String(want));
  }
}
