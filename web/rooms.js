// rooms.js: what the page knows of each room it is in: the message ids it
// holds, how far back the history goes, the members and their presence
// across reconnects, the unread count; and the session (nick, rooms, the
// room shown) that a reload restores. No DOM and no network: app.js does
// the calls and view.js the drawing, so this module runs in node's tests.
//
// Presence across a reconnect (doc/protocol.md, "Joining is a snapshot,
// then a stream"): while the connection is down nobody's presence is known,
// so every member is marked 'unknown'. The join reply after reconnecting is
// a snapshot: those in it are 'here' again, silently. Those not in it stay
// 'unknown' for GRACE_MS, since they are probably reconnecting too: their
// `join` notification then brings them back silently, where a newcomer's
// is announced. Those still unknown when the grace ends have left, and are
// announced in one line.
//
// A `leave` is announced only after LEAVE_SETTLE_MS ('leaving' meanwhile):
// a server shutting down closes its connections one after the other, so the
// last ones see the first ones leave just before they are cut off
// themselves; and someone reloading the page leaves and joins again within
// a second. A disconnection or a `join` before the leave settles turns it
// back into 'unknown' or 'here', and nothing is said.
//
// Invariants:
//  - room.ids holds every message id the page shows for the room, and
//    room.oldestId <= every id in it <= room.lastId (both 0 when empty);
//  - room.hasOlder is false only once the server said there is nothing
//    below room.oldestId (a page of history shorter than asked, or a join
//    history shorter than JOIN_HISTORY);
//  - a member is in room.members at most once, as 'here', 'leaving' (with
//    a deadline in room.leaving) or 'unknown'.

export const JOIN_HISTORY = 50; // messages a chat.join reply carries at most
export const GRACE_MS = 10000; // how long a member may take to come back
export const LEAVE_SETTLE_MS = 2000; // how long a leave waits before it is said

export class Room {
  constructor(name) {
    this.name = name;
    this.joined = false; // joined on the current connection
    this.snapshots = 0; // join replies applied (0: members never known)
    this.joinTries = 0; // "nick taken" answers in a row while rejoining
    this.ids = new Set(); // message ids held
    this.lastId = 0; // the largest id held
    this.oldestId = 0; // the smallest id held
    this.hasOlder = false; // whether the server may hold ids below oldestId
    this.loadingOlder = false; // a chat.history for older messages is out
    this.members = new Map(); // nick -> 'here' | 'leaving' | 'unknown'
    this.leaving = new Map(); // nick -> Date.now() when its leave is said
    this.graceUntil = 0; // Date.now() when 'unknown' members count as gone
    this.unread = 0; // messages from others arrived while not shown
  }

  /** Takes messages from the server: returns those not held yet, in id
   * order, and notes them as held. */
  accept(list) {
    const fresh = [];
    for (const m of list || []) {
      if (!m || m.room !== this.name || this.ids.has(m.id)) continue;
      this.ids.add(m.id);
      fresh.push(m);
    }
    fresh.sort((a, b) => a.id - b.id);
    if (fresh.length) {
      this.lastId = Math.max(this.lastId, fresh[fresh.length - 1].id);
      this.oldestId = this.oldestId ? Math.min(this.oldestId, fresh[0].id) : fresh[0].id;
    }
    return fresh;
  }

  /** The first join's history: older messages may exist when it is full. */
  firstHistory(list) {
    const fresh = this.accept(list);
    this.hasOlder = (list || []).length >= JOIN_HISTORY;
    return fresh;
  }

  /** A page asked with before = oldestId and limit came back as list. */
  olderPage(list, limit) {
    const fresh = this.accept(list);
    if ((list || []).length < limit) this.hasOlder = false;
    return fresh;
  }

  /** The page dropped the ids in `dropped` (the oldest it showed) to bound
   * its list; oldest is the smallest id it still shows. */
  forget(dropped, oldest) {
    for (const id of dropped) this.ids.delete(id);
    if (dropped.length) {
      this.oldestId = oldest || this.lastId;
      this.hasOlder = true;
    }
  }

  /** The connection went down: nobody's presence is known any more. */
  disconnected() {
    this.joined = false;
    for (const nick of this.members.keys()) this.members.set(nick, 'unknown');
    this.leaving.clear();
  }

  /** Applies a chat.join reply's members. Announces nothing: the first
   * time it is the room as found, later it is a reconnect (see the top). */
  snapshot(nicks, now) {
    const next = new Map();
    for (const n of nicks || []) next.set(n, 'here');
    if (this.snapshots > 0) {
      for (const n of this.members.keys()) if (!next.has(n)) next.set(n, 'unknown');
    }
    this.members = next;
    this.snapshots++;
    this.joined = true;
    this.joinTries = 0;
    this.graceUntil = this.unknown().length ? now + GRACE_MS : 0;
  }

  /** A chat.presence notification at now: the notice to show at once, or
   * null when the member was only coming back, when the event repeats what
   * is known, and for a leave (said by settle, later). */
  presence(event, nick, now) {
    const was = this.members.get(nick);
    if (event === 'join') {
      this.members.set(nick, 'here');
      this.leaving.delete(nick);
      return was ? null : `${nick} joined`;
    }
    if (event === 'leave' && was && was !== 'leaving') {
      this.members.set(nick, 'leaving');
      this.leaving.set(nick, now + LEAVE_SETTLE_MS);
    }
    return null;
  }

  /** The leaves due by now: their notices, the members removed. */
  settle(now) {
    const said = [];
    for (const [nick, due] of this.leaving) {
      if (due > now) continue;
      this.leaving.delete(nick);
      this.members.delete(nick);
      said.push(`${nick} left`);
    }
    return said;
  }

  /** Nicks whose presence is unknown (not those leaving). */
  unknown() {
    return [...this.members].filter(([, s]) => s === 'unknown').map(([n]) => n);
  }

  /** Past graceUntil (and connected): those still unknown have left. Returns
   * their nicks (sorted), removed from members; [] before the end. */
  graceOver(now) {
    if (!this.joined || !this.graceUntil || now < this.graceUntil) return [];
    this.graceUntil = 0;
    const gone = this.unknown().sort();
    for (const n of gone) this.members.delete(n);
    return gone;
  }

  /** Members sorted for the list: [{nick, state}], state 'here', 'leaving'
   * or 'unknown'. */
  memberList() {
    return [...this.members]
      .map(([nick, state]) => ({ nick, state }))
      .sort((a, b) => a.nick.localeCompare(b.nick));
  }
}

/** The one sentence for members who did not come back after a reconnect. */
export function goneNotice(nicks) {
  if (!nicks.length) return null;
  const who = nicks.length === 1 ? nicks[0] :
    `${nicks.slice(0, -1).join(', ')} and ${nicks[nicks.length - 1]}`;
  return `${who} left while you were away`;
}

/**
 * The page's session: one nick, the rooms it is in (in the order joined),
 * and the room shown. Saved to storage on every change, so a reload rejoins
 * (sessionStorage: this tab's own) and a new tab starts where the last one
 * was (localStorage).
 */
export class Session {
  constructor(stores = []) {
    this.stores = stores; // Storage-like objects: getItem, setItem
    this.nick = null;
    this.rooms = new Map(); // name -> Room, in joining order
    this.active = null; // the name of the room shown, or null
  }

  add(name) {
    let r = this.rooms.get(name);
    if (!r) {
      r = new Room(name);
      this.rooms.set(name, r);
    }
    if (!this.active) this.active = name;
    this.save();
    return r;
  }

  remove(name) {
    this.rooms.delete(name);
    if (this.active === name) this.active = this.rooms.size ? [...this.rooms.keys()][0] : null;
    this.save();
  }

  select(name) {
    const r = this.rooms.get(name);
    if (!r) return null;
    this.active = name;
    r.unread = 0;
    this.save();
    return r;
  }

  get current() {
    return this.active ? this.rooms.get(this.active) || null : null;
  }

  /** Total unread messages, for the page's title. */
  unread() {
    let n = 0;
    for (const r of this.rooms.values()) n += r.unread;
    return n;
  }

  save() {
    const data = JSON.stringify({ nick: this.nick, rooms: [...this.rooms.keys()], active: this.active });
    for (const s of this.stores) {
      try {
        s.setItem(SESSION_KEY, data);
      } catch {
        // storage full or refused (private mode): the session is not kept
      }
    }
  }
}

const SESSION_KEY = 'goc.chat.session';

/** The first saved session found in stores (in order): {nick, rooms,
 * active}, or null. Anything malformed counts as nothing saved. */
export function loadSession(stores) {
  for (const s of stores) {
    let v = null;
    try {
      v = JSON.parse(s.getItem(SESSION_KEY) || 'null');
    } catch {
      v = null;
    }
    if (v && typeof v.nick === 'string' && Array.isArray(v.rooms)) {
      const rooms = v.rooms.filter((r) => typeof r === 'string' && r);
      return { nick: v.nick, rooms, active: rooms.includes(v.active) ? v.active : rooms[0] || null };
    }
  }
  return null;
}
