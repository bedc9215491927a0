// format.js: how the pages word and dress what they show: a nick's colour,
// a message's time, a failed call in a sentence (the chat); counts, bytes
// and rates (the runtime page). Pure functions with no DOM, so tests run
// them in node as well as in the page.
//
// Invariants:
//  - nickColor(n) depends on n alone: the same nick has the same colour in
//    every page, every room and every session;
//  - describeError never shows a raw JSON-RPC code: each code the server
//    uses (doc/protocol.md, "Error codes") has a sentence of its own.

/** Number of nick colours: style.css defines .nick-c0 ... .nick-c11. */
export const NICK_COLORS = 12;

/** The colour class index (0 .. NICK_COLORS-1) of a nick: 32-bit FNV-1a of
 * its UTF-16 code units. */
export function nickColor(nick) {
  let h = 0x811c9dc5;
  for (let i = 0; i < nick.length; i++) {
    h ^= nick.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % NICK_COLORS;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
    a.getDate() === b.getDate();
}

/**
 * A message time for the list: {text, title}. text is the time alone
 * ("14:05") for today, with the day ("7 Dec, 14:05") for another day of this
 * year, with the year before that; title is the full date and time.
 * ts: milliseconds since the epoch; now: a Date; locale: undefined for the
 * reader's own.
 */
export function formatTime(ts, now = new Date(), locale = undefined) {
  const d = new Date(ts);
  const time = { hour: '2-digit', minute: '2-digit' };
  let opts = time;
  if (!sameDay(d, now)) {
    opts = { ...time, day: 'numeric', month: 'short' };
    if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  }
  return {
    text: new Intl.DateTimeFormat(locale, opts).format(d),
    title: new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'medium' }).format(d),
  };
}

/** The server's own error codes, in words. {nick} and {room} are filled in. */
const SENTENCES = {
  [-32001]: 'This needs a live connection; reconnecting.',
  [-32002]: 'The nick “{nick}” is already in use in #{room}.',
  [-32003]: 'You are not in #{room} any more.',
  [-32004]: 'You are sending too fast: wait a moment, then send again.',
  [-32005]: 'That is too large to send.',
  [-32006]: 'The chat is unavailable for a moment; try again shortly.',
  [-32007]: 'Your token does not allow that (another nick, or a room outside it).',
  [-32600]: 'The server did not understand the request.',
  [-32601]: 'The server does not offer that.',
  [-32603]: 'The server could not do that; try again.',
};

function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/**
 * A sentence for a failed call. err: an RpcError ({code, message}; code 0
 * when there was no connection) or anything else; ctx: {nick, room} for the
 * sentences that name them.
 */
export function describeError(err, ctx = {}) {
  if (!err || typeof err.code !== 'number') return capitalize(String(err && err.message || err));
  if (err.code === 0) return 'Not connected; reconnecting.';
  const known = SENTENCES[err.code];
  if (known)
    return known.replace('{nick}', ctx.nick || '').replace('{room}', ctx.room || '');
  // -32602 and anything new: the server's message is already in words.
  const text = capitalize(String(err.message || 'something went wrong'));
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/**
 * Another nick to offer when nick is taken: nick2, nick3, ... (the number
 * after a trailing one), kept within the 32 code points a nick may have.
 */
export function suggestNick(nick) {
  const m = /^(.*?)(\d*)$/u.exec(nick);
  const n = m[2] ? Number(m[2]) + 1 : 2;
  const tail = String(n);
  const head = [...m[1]].slice(0, 32 - tail.length).join('');
  return head + tail;
}

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
const grouped = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const small = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });
const tenths = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

/** A number for a label: 0.25, 12.3, 950, 9,999, 12.3K, 1.8M. */
export function formatCount(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const a = Math.abs(n);
  if (a < 10) return small.format(n);
  if (a < 100) return tenths.format(n);
  return a < 10000 ? grouped.format(n) : compact.format(n);
}

/** A byte size in binary units: 512 B, 1.7 MiB. */
export function formatBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  const digits = i === 0 || Math.abs(n) >= 100 || Number.isInteger(n) ? 0 : 1;
  return `${n.toFixed(digits)} ${units[i]}`;
}

/** A rate per second: 0.5/s, 120/s, 1.2M/s. */
export function formatRate(n) {
  return n === null || n === undefined ? '–' : `${formatCount(n)}/s`;
}
