/* ws.h: WebSocket (RFC 6455) for the server, with no I/O (doc/contributing.md, rule 7).
 *
 * Two parts. The handshake: check that an HTTP request is a WebSocket
 * upgrade we accept, compute Sec-WebSocket-Accept, write the 101 answer.
 * The connection: a goc_ws_t over wslay's event API whose "socket" is two
 * in-memory buffers. The connection glue feeds what it read with
 * goc_ws_feed() (messages come out through the event callback), and writes
 * what goc_ws_output() hands it, then goc_ws_consume()s it.
 *
 * The server's rules (doc/protocol.md) are enforced here: a binary
 * message is answered with close 1003, a text message that is not UTF-8 with
 * 1007, a message over max_message with 1009 (refused on the frame header,
 * before its payload is buffered), a protocol error with 1002 (every one,
 * RFC 6455 7.1.7: a bad opcode or RSV bit, a missing mask, a stray
 * continuation, a control frame over 125 bytes or fragmented, a length not
 * in its shortest form, a close code that may not be sent or cut to one
 * byte). The server
 * closes with 1001 (going away) or 1008 (too slow) through goc_ws_close().
 * A close frame from the peer is answered with the same code, as RFC 6455
 * asks.
 *
 * Invariants: memory held per connection is bounded: one message being
 * received (<= max_message), the output buffer (out_buffer bytes) and the
 * queued outgoing messages (<= max_queued bytes, <= max_queued_msgs
 * messages, pongs included: a peer that pings without reading is closed
 * with 1008). No callback is made outside goc_ws_feed().
 */
#ifndef GOC_PROTO_WS_H
#define GOC_PROTO_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* Close codes the server uses (RFC 6455 section 7.4.1). */
enum {
    GOC_WS_NORMAL = 1000,       /* normal closure */
    GOC_WS_GOING_AWAY = 1001,   /* server shutting down */
    GOC_WS_PROTOCOL = 1002,     /* protocol error */
    GOC_WS_UNSUPPORTED = 1003,  /* binary message */
    GOC_WS_NO_STATUS = 1005,    /* a close frame without a code (never sent) */
    GOC_WS_BAD_DATA = 1007,     /* invalid UTF-8 */
    GOC_WS_POLICY = 1008,       /* too slow: outbox or send queue full */
    GOC_WS_TOO_BIG = 1009,      /* message over max_message */
    GOC_WS_INTERNAL = 1011,     /* internal error */
};

/* --- Handshake ----------------------------------------------------------- */

/* Length of a Sec-WebSocket-Accept value, without its NUL. */
#define GOC_WS_ACCEPT_LEN 28

/* Computes Sec-WebSocket-Accept for the key key[0..len): base64 of the SHA-1
 * of the key followed by the RFC's GUID. out gets 28 characters and a NUL.
 * Returns 0, or -EINVAL if len is 0 or above 128. */
int goc_ws_accept_key(const char *key, size_t len, char out[GOC_WS_ACCEPT_LEN + 1]);

/* Checks that req (borrowed) is a WebSocket upgrade we accept: GET, HTTP/1.1
 * or later, "Upgrade: websocket", "Connection" holding the token "upgrade",
 * "Sec-WebSocket-Version: 13" and a "Sec-WebSocket-Key" that is base64 of 16
 * bytes. If norigins is not 0 and the request has an Origin header, it must
 * equal one of origins[0..norigins) (ASCII case-insensitive); a request
 * without Origin does not come from a browser and is let through. On success
 * fills accept (28 characters and a NUL) and returns 0. Errors:
 *   -EBADMSG          not a valid upgrade request (answer 400);
 *   -EPROTONOSUPPORT  another Sec-WebSocket-Version (answer 426 with
 *                     "Sec-WebSocket-Version: 13");
 *   -EACCES           Origin not in the list (answer 403). */
int goc_ws_handshake_check(const goc_http_request_t *req, const char *const *origins,
                           size_t norigins, char accept[GOC_WS_ACCEPT_LEN + 1]);

/* The HTTP status that answers a handshake error: 400, 426 or 403. */
int goc_ws_handshake_status(int err);

/* Writes the "101 Switching Protocols" answer with Upgrade, Connection and
 * Sec-WebSocket-Accept into o (errors are o's sticky error). */
void goc_ws_handshake_response(goc_http_out_t *o, const char *accept);

/* --- Connection ---------------------------------------------------------- */

/* What goc_ws_feed() reports. */
typedef enum goc_ws_event_kind {
    GOC_WS_EV_TEXT = 1, /* a complete, valid UTF-8 text message */
    GOC_WS_EV_PING,     /* a ping (already answered with a pong) */
    GOC_WS_EV_PONG,     /* a pong: the peer is alive */
    GOC_WS_EV_CLOSE,    /* the peer's close frame (already answered) */
} goc_ws_event_kind_t;

/* One event. data is borrowed: valid only during the callback. */
typedef struct goc_ws_event {
    goc_ws_event_kind_t kind; /* what happened */
    const uint8_t *data;      /* message, ping/pong payload or close reason */
    size_t len;               /* its length */
    uint16_t code;            /* GOC_WS_EV_CLOSE: the peer's code, 1005 if none */
} goc_ws_event_t;

/* Settings of one connection; 0 in a size selects the default. */
typedef struct goc_ws_config {
    size_t max_message;     /* largest message received (--max-frame); 1 MiB */
    size_t max_queued;      /* bytes of queued outgoing messages; 4 * max_message */
    size_t max_queued_msgs; /* number of queued outgoing messages; 4096 */
    size_t out_buffer;      /* size of the output buffer; 16 KiB */
    /* Called from goc_ws_feed() for each event; may call goc_ws_send_text,
     * goc_ws_ping and goc_ws_close on the same connection, never
     * goc_ws_feed or goc_ws_free. */
    void (*on_event)(void *user, const goc_ws_event_t *ev);
    void *user; /* passed to on_event, borrowed */
} goc_ws_config_t;

typedef struct goc_ws goc_ws_t;

/* Creates a server-side connection (cfg is copied). Returns 0 and sets *out
 * (the caller's, release with goc_ws_free), or -EINVAL (no on_event, or
 * out_buffer under 16 bytes), or -ENOMEM (*out untouched). */
int goc_ws_new(const goc_ws_config_t *cfg, goc_ws_t **out);

/* Frees ws and everything queued in it; ws may be NULL. */
void goc_ws_free(goc_ws_t *ws);

/* Feeds bytes read from the peer (borrowed for the call). Every byte is
 * used; complete messages are reported through on_event before it returns.
 * Once reading is over (see goc_ws_want_read) bytes are ignored. A protocol
 * violation is not an error of this call: it queues the close frame that
 * answers it; so does running out of memory (1011) when the close frame
 * can still be queued. Returns 0, or -ENOMEM when not even that could be
 * (the connection must be dropped). */
int goc_ws_feed(goc_ws_t *ws, const void *data, size_t len);

/* Queues a text message (copied). Returns 0; -EINVAL if msg is not UTF-8;
 * -ENOBUFS if the queue limits would be passed (the peer is too slow: close
 * it with GOC_WS_POLICY); -EPIPE if a close frame is already queued;
 * -ENOMEM. */
int goc_ws_send_text(goc_ws_t *ws, const void *msg, size_t len);

/* Queues a ping with payload data[0..len) (copied). Returns 0; -EINVAL if
 * len > 125; -ENOBUFS; -EPIPE; -ENOMEM, as goc_ws_send_text. */
int goc_ws_ping(goc_ws_t *ws, const void *data, size_t len);

/* Queues a close frame with code and reason (a NUL-terminated string, may
 * be NULL; copied) and stops delivering messages. Control frames go out
 * before queued messages. Returns 0; -EINVAL for a code that may not be sent
 * (not 1000-1003, 1007-1011 or 3000-4999) or a reason over 123 bytes or not
 * UTF-8; -EPIPE if a close frame is already queued; -ENOMEM. */
int goc_ws_close(goc_ws_t *ws, uint16_t code, const char *reason);

/* Messages (data and control) queued in the engine, not yet all handed
 * to goc_ws_output. */
size_t goc_ws_queued_msgs(const goc_ws_t *ws);

/* Bytes waiting to be written to the peer: fills the output buffer from the
 * queue and points *data at them (owned by ws). Returns their count (0:
 * nothing to write), or -ENOMEM. Only goc_ws_output and goc_ws_consume
 * move or change those bytes, so a single writer may write them to the
 * socket without holding its lock on ws while other threads send, feed or
 * ping; then it consumes what it wrote. */
long goc_ws_output(goc_ws_t *ws, const uint8_t **data);

/* Marks the first n bytes of the last goc_ws_output() as written
 * (n <= that count). */
void goc_ws_consume(goc_ws_t *ws, size_t n);

/* True while bytes from the peer are still expected. */
bool goc_ws_want_read(const goc_ws_t *ws);

/* True when the connection is over and the socket may be closed: a close
 * frame was sent and written out, and reading is over (the peer's close came,
 * or we stopped reading after an error). The glue also closes after a
 * timeout if the peer never answers our close. */
bool goc_ws_done(const goc_ws_t *ws);

/* The code of the close frame we sent (fully handed to goc_ws_output), or 0
 * while none was. */
uint16_t goc_ws_close_code_sent(const goc_ws_t *ws);

/* The code of the peer's close frame (1005 if it had none), or 0 while none
 * came. */
uint16_t goc_ws_close_code_received(const goc_ws_t *ws);

#endif
