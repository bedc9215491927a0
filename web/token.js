// token.js: the page's identity token (doc/protocol.md, "Identity (--auth-secret)").
//
// A server started with --auth-secret wants a signed token from every
// client; `scripts/token NICK` prints one, and the page takes it from its
// address: /#token=TOKEN (the fragment is never sent to any server, nor in
// a Referer). The token is then kept for this tab only (sessionStorage)
// and removed from the address bar, so it does not end up in bookmarks or
// screenshots. The page reads the token's claims (sub, exp) to fill in
// the nick and to say when it expires; checking the signature is the
// server's job.
//
// Invariants: take() is called once, before the first connection; the
// token it returns is the one the connection presents.

const KEY = 'goc.token';

/** Decodes base64url text, or returns null. */
function b64url(text) {
  try {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch {
    return null;
  }
}

/** The claims of a token ({sub, exp, rooms}), or null when unreadable. */
export function claims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const text = b64url(parts[1]);
  try {
    const c = JSON.parse(text);
    return c && typeof c.sub === 'string' && typeof c.exp === 'number' ? c : null;
  } catch {
    return null;
  }
}

/** The token from the page address (then kept, and removed from the
 * address) or the one kept for this tab; null when there is none. */
export function take() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fresh = hash.get('token');
  if (fresh) {
    sessionStorage.setItem(KEY, fresh);
    hash.delete('token');
    const rest = hash.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
    return fresh;
  }
  return sessionStorage.getItem(KEY);
}

/** Milliseconds until the claims' exp (negative once past). */
export function msLeft(c) {
  return c.exp * 1000 - Date.now();
}

/** Whether the server asks for tokens: a POST /rpc without one is 401. */
export async function serverWantsToken() {
  try {
    const res = await fetch('/rpc', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":0,"method":"echo"}',
    });
    return res.status === 401;
  } catch {
    return false;
  }
}
