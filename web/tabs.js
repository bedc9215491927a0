// tabs.js: asks the chat's other tabs and windows in this browser whether
// one of them holds a nick in a room, so a page whose join is refused with
// "nick taken" can tell "open in another tab" from "someone else has it"
// (or from its own previous connection, not yet gone after a reload).
//
// One BroadcastChannel per page. A question {type: 'who', id, nick, room}
// is answered {type: 'here', id} by every page that is joined to room with
// nick; the asker waits a short, fixed time for an answer.
//
// Invariants: a page never answers its own question (BroadcastChannel does
// not deliver to the sender); every holds() promise settles, with false
// where BroadcastChannel does not exist.

const CHANNEL = 'goc-chat-tabs';

export class TabPeers {
  /** holding(nick, room): whether this page is joined to room as nick. */
  constructor(holding) {
    this.holding = holding;
    this.waiting = new Map(); // question id -> resolve(true)
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
    if (this.channel) this.channel.onmessage = (ev) => this.received(ev.data);
  }

  received(m) {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'who' && this.holding(m.nick, m.room)) this.channel.postMessage({ type: 'here', id: m.id });
    else if (m.type === 'here' && this.waiting.has(m.id)) this.waiting.get(m.id)(true);
  }

  /** Resolves true when another page answers within waitMs that it holds
   * nick in room, else false. */
  holds(nick, room, waitMs = 300) {
    if (!this.channel) return Promise.resolve(false);
    const id = `${Date.now()}-${Math.random()}`;
    return new Promise((resolve) => {
      const done = (v) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(v);
      };
      const timer = setTimeout(() => done(false), waitMs);
      this.waiting.set(id, done);
      this.channel.postMessage({ type: 'who', id, nick, room });
    });
  }

  close() {
    if (this.channel) this.channel.close();
  }
}
