// rpc.js: JSON-RPC 2.0 over one WebSocket (doc/protocol.md, "WebSocket"), with
// reconnection.
//
// A Connection keeps one socket to GET /ws open. When it closes, it waits an
// exponentially growing delay (with jitter, capped) and opens a new one, for
// as long as the page wants it. Calls made while the socket is down fail at
// once with an RpcError (code 0): the caller decides whether to retry.
//
// Invariants:
//  - every pending call is settled exactly once: by its reply, by its timeout,
//    or by the socket closing;
//  - `onopen` runs once per socket that opened, before any notification of
//    that socket is delivered to `onnotify`.

/** An error reply (or a transport failure, code 0) to a call. */
export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code; // JSON-RPC error code, or 0 for "no connection"
    this.data = data; // the error's data member, if any
  }
}

/** Delay before reconnect attempt `attempt` (0-based): full jitter over an
 * exponential ramp, between half and all of min(cap, base * 2^attempt). */
export function backoffDelay(attempt, base = 500, cap = 15000) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

export class Connection {
  /**
   * url: the WebSocket URL. Callbacks (all optional):
   *  onopen()                 a socket opened (first time or after reconnect)
   *  onnotify(method, params) a notification arrived
   *  onstate(state, detail, code, reason)
   *                           'connecting' | 'open' | 'waiting' (detail: ms
   *                           until the next attempt) | 'closed'; after a
   *                           close, the close frame's code and reason
   */
  constructor(url, { onopen, onnotify, onstate, timeoutMs = 8000 } = {}) {
    this.url = url;
    this.onopen = onopen || (() => {});
    this.onnotify = onnotify || (() => {});
    this.onstate = onstate || (() => {});
    this.timeoutMs = timeoutMs;
    this.ws = null; // the current socket, or null while waiting
    this.nextId = 1; // id of the next request
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.attempt = 0; // failed attempts since the last socket that opened
    this.timer = null; // the reconnect timer
    this.wanted = false; // whether the page wants a connection
  }

  start() {
    this.wanted = true;
    if (!this.ws && !this.timer) this.open();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) this.ws.close(1000);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a request; resolves with its result or rejects with an RpcError. */
  call(method, params) {
    if (!this.isOpen) return Promise.reject(new RpcError(0, 'not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(0, `${method}: no reply in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  open() {
    this.timer = null;
    this.onstate('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onstate('open');
      this.onopen();
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => this.closed(ws, ev);
  }

  receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // not ours to fix: the server only sends JSON
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m.method !== undefined && m.id === undefined) {
        this.onnotify(m.method, m.params);
        continue;
      }
      const p = this.pending.get(m.id);
      if (!p) continue;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error) p.reject(new RpcError(m.error.code, m.error.message, m.error.data));
      else p.resolve(m.result);
    }
  }

  closed(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RpcError(0, 'connection closed'));
    }
    this.pending.clear();
    if (!this.wanted) {
      this.onstate('closed', 0, ev.code, ev.reason);
      return;
    }
    const delay = backoffDelay(this.attempt++);
    this.onstate('waiting', delay, ev.code, ev.reason);
    this.timer = setTimeout(() => this.open(), delay);
  }
}

/** The WebSocket URL of this page's server, presenting token if any. */
export function wsUrl(token) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${proto}//${location.host}/ws${q}`;
}
