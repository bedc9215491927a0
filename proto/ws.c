/* ws.c: the WebSocket connection of ws.h, on wslay's event API with
 * in-memory I/O.
 *
 * wslay pulls bytes through a recv callback and pushes frames through a send
 * callback. Here recv reads from the bytes of the goc_ws_feed() in progress
 * (and says "would block" when they are used up, so one feed always uses all
 * of its bytes), and send copies into a fixed output buffer (and says "would
 * block" when it is full; wslay then keeps the rest queued and resumes on the
 * next goc_ws_output()). wslay buffers each incoming message whole, bounded
 * by max_recv_msg_length, which it checks on each frame header.
 *
 * Our rules on top of wslay: a binary frame is refused with 1003 on its
 * header; every text message is checked for UTF-8 again with our validator
 * (wslay checks too; both must agree) before it is delivered; pongs that
 * wslay queues for pings count against the queue limits; a close frame's
 * reason is checked for UTF-8 here too (wslay misses bad bytes when the
 * frame arrives in pieces).
 *
 * Every way of failing the connection answers with a close frame that has
 * a status code (RFC 6455 7.1.7, 7.4.1). wslay gives one for most (1002 for
 * a bad opcode, RSV bit, missing mask or continuation, 1007, 1009), but a
 * frame header it cannot parse (a control frame over 125 bytes or
 * fragmented, a length not in its shortest form) makes it queue a close
 * with no code at all, and it echoes a close whose payload is a single
 * byte as another codeless close. So frame headers are also followed here
 * (struct hdr_track): a header that breaks those rules is never handed to
 * wslay; the bytes before it are, and then we close with 1002.
 *
 * Memory: ours comes from goc_malloc; wslay 1.1 has no allocator hook and
 * takes its event context and the frames it buffers from libc's malloc
 * (bounded by max_recv_msg_length and the queue limits of ws.h).
 *
 * Invariants:
 *  - in/in_len/in_off are only set during goc_ws_feed(); in == NULL outside.
 *  - out_head <= out_len <= cfg.out_buffer; out[out_head..out_len) is what
 *    goc_ws_output() returns. out is allocated only while it holds output
 *    (NULL when out_len == 0 after goc_ws_output), so an idle connection
 *    keeps none.
 *  - closing is set once we queued a close frame (ours or wslay's answer);
 *    after it no event but GOC_WS_EV_CLOSE/PONG is delivered.
 *  - hdr follows exactly the bytes handed to wslay: it is at the same frame
 *    boundary wslay is, so the header it checks is the one wslay parses
 *    next.
 */
#include <goc/malloc.h>

#include "ws.h"

#include <errno.h>
#include <string.h>
#include <wslay/wslay.h>

#include "utf8.h"

/* Where the incoming stream stands, frame by frame (see the top). */
typedef struct hdr_track {
    uint8_t b[14];     /* the header so far: 2 bytes, 0/2/8 of length, 0/4 of mask */
    size_t have;       /* bytes in b */
    size_t need;       /* the header's full size once b[1] is in (else 2) */
    uint64_t payload;  /* payload bytes of the current frame still to pass */
} hdr_track;

struct goc_ws {
    wslay_event_context_ptr ctx; /* wslay's state; its user_data is us */
    goc_ws_config_t cfg;         /* settings, defaults filled in */
    const uint8_t *in;           /* the bytes of the feed in progress */
    size_t in_len;               /* their count */
    size_t in_off;               /* how many wslay took */
    uint8_t *out;                /* output buffer, cfg.out_buffer bytes */
    size_t out_head;             /* first byte not yet consumed */
    size_t out_len;              /* end of the bytes in out */
    bool closing;                /* see invariants */
    int err;                     /* -ENOMEM once wslay ran out of memory */
    bool in_close;               /* the frame being received is a close frame */
    uint8_t close_buf[125];      /* its payload so far (control frames are <= 125) */
    size_t close_len;            /* bytes in close_buf */
    hdr_track hdr;               /* frame headers of the input (see the top) */
};

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    goc_ws_t *ws = user;
    (void)flags;
    size_t n = ws->in_len - ws->in_off;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n > len)
        n = len;
    memcpy(buf, ws->in + ws->in_off, n);
    ws->in_off += n;
    return (ssize_t)n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    goc_ws_t *ws = user;
    (void)flags;
    if (!ws->out && !(ws->out = goc_realloc(NULL, ws->cfg.out_buffer))) {
        wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
        return -1;
    }
    size_t room = ws->cfg.out_buffer - ws->out_len;
    if (room == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (room > len)
        room = len;
    memcpy(ws->out + ws->out_len, data, room);
    ws->out_len += room;
    return (ssize_t)room;
}

/* Queues our close and stops reading: the answer to a rule broken by the
 * peer. A close already queued stays the one that goes out. */
static void ws_refuse(goc_ws_t *ws, uint16_t code)
{
    if (!ws->closing && wslay_event_queue_close(ws->ctx, code, NULL, 0) == 0)
        ws->closing = true;
    wslay_event_shutdown_read(ws->ctx);
}

static void ws_on_frame_start(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    goc_ws_t *ws = user;
    (void)ctx;
    ws->in_close = arg->opcode == WSLAY_CONNECTION_CLOSE;
    ws->close_len = 0;
    if (arg->opcode == WSLAY_BINARY_FRAME)
        ws_refuse(ws, GOC_WS_UNSUPPORTED);
}

/* wslay checks a close frame's reason for UTF-8 correctly only when the
 * frame arrives in one read (it skips the first two bytes of every piece),
 * then echoes the reason; so the close payload is gathered here and checked
 * whole when the frame ends, before wslay queues its answer. (The same slip
 * can make wslay answer a good multi-byte reason cut at the wrong place
 * with 1007; harmless, the connection closes either way.) */
static void ws_on_frame_chunk(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
    goc_ws_t *ws = user;
    (void)ctx;
    size_t n = arg->data_length;
    if (!ws->in_close || n == 0)
        return;
    if (n > sizeof ws->close_buf - ws->close_len)
        n = sizeof ws->close_buf - ws->close_len;
    memcpy(ws->close_buf + ws->close_len, arg->data, n);
    ws->close_len += n;
}

static void ws_on_frame_end(wslay_event_context_ptr ctx, void *user)
{
    goc_ws_t *ws = user;
    (void)ctx;
    if (ws->in_close && ws->close_len > 2 &&
        !goc_utf8_valid(ws->close_buf + 2, ws->close_len - 2))
        ws_refuse(ws, GOC_WS_BAD_DATA);
    ws->in_close = false;
}

/* Pongs for pings are queued by wslay itself: a peer that pings and never
 * reads must not grow our queue without bound. */
static void ws_check_queue(goc_ws_t *ws)
{
    if (wslay_event_get_queued_msg_length(ws->ctx) > ws->cfg.max_queued ||
        wslay_event_get_queued_msg_count(ws->ctx) > ws->cfg.max_queued_msgs)
        ws_refuse(ws, GOC_WS_POLICY);
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    goc_ws_t *ws = user;
    goc_ws_event_t ev = {.data = arg->msg, .len = arg->msg_length};
    (void)ctx;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        if (ws->closing || !wslay_event_get_read_enabled(ws->ctx))
            return;
        if (!goc_utf8_valid(arg->msg, arg->msg_length)) {
            ws_refuse(ws, GOC_WS_BAD_DATA);
            return;
        }
        ev.kind = GOC_WS_EV_TEXT;
        break;
    case WSLAY_PING:
        ws_check_queue(ws);
        if (ws->closing)
            return;
        ev.kind = GOC_WS_EV_PING;
        break;
    case WSLAY_PONG:
        ev.kind = GOC_WS_EV_PONG;
        break;
    case WSLAY_CONNECTION_CLOSE:
        ws->closing = true; /* wslay queued the answer */
        if (arg->msg_length > 2 && !goc_utf8_valid(arg->msg + 2, arg->msg_length - 2))
            return; /* answered 1007 (ws_on_frame_end), not reported: as wslay does */
        ev.kind = GOC_WS_EV_CLOSE;
        ev.code = arg->status_code ? arg->status_code : GOC_WS_NO_STATUS;
        ev.data = arg->msg_length >= 2 ? arg->msg + 2 : NULL;
        ev.len = arg->msg_length >= 2 ? arg->msg_length - 2 : 0;
        break;
    default:
        return; /* binary: refused on its first frame */
    }
    ws->cfg.on_event(ws->cfg.user, &ev);
}

/* Checks the header bytes in h->b so far, at the points where wslay parses
 * them (the first two bytes, then the extended length): false for what
 * wslay would answer without a status code. Once the header is whole, sets
 * h->payload. */
static bool hdr_check(hdr_track *h)
{
    uint8_t op = h->b[0] & 0x0f, len7 = h->b[1] & 0x7f;
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (h->have == 2) {
        bool control = op & 0x08, fin = h->b[0] & 0x80;
        if (control && (len7 > 125 || !fin))
            return false;
        if (op == 0x8 && len7 == 1) /* a close code is two bytes */
            return false;
    }
    if (h->have != 2 + ext && h->have != h->need)
        return true;
    uint64_t len = len7;
    if (ext) {
        len = 0;
        for (size_t i = 2; i < 2 + ext; i++)
            len = len << 8 | h->b[i];
        if (ext == 2 ? len < 126 : (len < 65536 || len >> 63))
            return false;
    }
    h->payload = len;
    return true;
}

/* Follows data[0..len) through the frame structure. Returns len, or the
 * offset in data where the header that breaks a rule began (its first
 * bytes may have come in an earlier feed: then 0). */
static size_t hdr_follow(hdr_track *h, const uint8_t *data, size_t len)
{
    size_t i = 0, start = 0;
    while (i < len) {
        if (h->have == 0 && h->payload) {
            size_t n = len - i < h->payload ? len - i : (size_t)h->payload;
            h->payload -= n;
            i += n;
            continue;
        }
        if (h->have == 0) {
            start = i;
            h->need = 2;
        }
        h->b[h->have++] = data[i++];
        if (h->have == 2) {
            uint8_t len7 = h->b[1] & 0x7f;
            h->need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (h->b[1] & 0x80 ? 4 : 0);
        }
        if (h->have >= 2 && !hdr_check(h))
            return start;
        if (h->have == h->need)
            h->have = 0;
    }
    return len;
}

int goc_ws_new(const goc_ws_config_t *cfg, goc_ws_t **out)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = ws_recv,
        .send_callback = ws_send,
        .on_frame_recv_start_callback = ws_on_frame_start,
        .on_frame_recv_chunk_callback = ws_on_frame_chunk,
        .on_frame_recv_end_callback = ws_on_frame_end,
        .on_msg_recv_callback = ws_on_msg,
    };
    if (!cfg->on_event || (cfg->out_buffer && cfg->out_buffer < 16))
        return -EINVAL;
    goc_ws_t *ws = goc_realloc(NULL, sizeof *ws);
    if (!ws)
        return -ENOMEM;
    memset(ws, 0, sizeof *ws);
    ws->cfg = *cfg;
    if (!ws->cfg.max_message)
        ws->cfg.max_message = 1024 * 1024;
    if (!ws->cfg.max_queued)
        ws->cfg.max_queued = 4 * ws->cfg.max_message;
    if (!ws->cfg.max_queued_msgs)
        ws->cfg.max_queued_msgs = 4096;
    if (!ws->cfg.out_buffer)
        ws->cfg.out_buffer = 16 * 1024;
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0) {
        goc_ws_free(ws);
        return -ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->cfg.max_message);
    *out = ws;
    return 0;
}

void goc_ws_free(goc_ws_t *ws)
{
    if (!ws)
        return;
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    goc_free(ws->out);
    goc_free(ws);
}

int goc_ws_feed(goc_ws_t *ws, const void *data, size_t len)
{
    if (ws->err)
        return ws->err;
    if (!wslay_event_want_read(ws->ctx) || len == 0)
        return 0;
    size_t good = hdr_follow(&ws->hdr, data, len);
    ws->in = data;
    ws->in_len = good;
    ws->in_off = 0;
    int rc = good ? wslay_event_recv(ws->ctx) : 0;
    ws->in = NULL;
    ws->in_len = ws->in_off = 0;
    if (rc == WSLAY_ERR_NOMEM) { /* close 1011, if even that can be queued */
        wslay_event_shutdown_read(ws->ctx);
        int q = ws->closing ? 0 : wslay_event_queue_close(ws->ctx, GOC_WS_INTERNAL, NULL, 0);
        if (q != 0 && q != WSLAY_ERR_NO_MORE_MSG) { /* NO_MORE_MSG: one is queued */
            ws->err = -ENOMEM;
            return ws->err;
        }
        ws->closing = true;
        return 0;
    }
    if (wslay_event_get_close_received(ws->ctx))
        ws->closing = true;
    if (good < len && wslay_event_want_read(ws->ctx))
        ws_refuse(ws, GOC_WS_PROTOCOL); /* the header wslay would answer with no code */
    return 0;
}

/* Maps a wslay queueing error to ours. */
static int queue_error(int rc)
{
    switch (rc) {
    case 0: return 0;
    case WSLAY_ERR_NO_MORE_MSG: return -EPIPE;
    case WSLAY_ERR_INVALID_ARGUMENT: return -EINVAL;
    default: return -ENOMEM;
    }
}

/* Queues one message after the limits check. */
static int ws_queue(goc_ws_t *ws, uint8_t opcode, const void *msg, size_t len)
{
    if (ws->closing || !wslay_event_get_write_enabled(ws->ctx))
        return -EPIPE;
    if (len > ws->cfg.max_queued - wslay_event_get_queued_msg_length(ws->ctx) ||
        wslay_event_get_queued_msg_length(ws->ctx) > ws->cfg.max_queued ||
        wslay_event_get_queued_msg_count(ws->ctx) >= ws->cfg.max_queued_msgs)
        return -ENOBUFS;
    struct wslay_event_msg m = {opcode, msg, len};
    return queue_error(wslay_event_queue_msg(ws->ctx, &m));
}

int goc_ws_send_text(goc_ws_t *ws, const void *msg, size_t len)
{
    if (!goc_utf8_valid(msg, len))
        return -EINVAL;
    return ws_queue(ws, WSLAY_TEXT_FRAME, msg, len);
}

int goc_ws_ping(goc_ws_t *ws, const void *data, size_t len)
{
    if (len > 125)
        return -EINVAL;
    return ws_queue(ws, WSLAY_PING, data, len);
}

/* True for the codes an endpoint may put in a close frame it sends. */
static bool code_sendable(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

int goc_ws_close(goc_ws_t *ws, uint16_t code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (!code_sendable(code) || rlen > 123 || !goc_utf8_valid((const uint8_t *)reason, rlen))
        return -EINVAL;
    if (ws->closing)
        return -EPIPE;
    int rc = queue_error(wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, rlen));
    if (rc == 0)
        ws->closing = true;
    return rc;
}

long goc_ws_output(goc_ws_t *ws, const uint8_t **data)
{
    if (ws->out_head == ws->out_len) {
        ws->out_head = ws->out_len = 0;
    } else if (ws->out_head > 0) {
        memmove(ws->out, ws->out + ws->out_head, ws->out_len - ws->out_head);
        ws->out_len -= ws->out_head;
        ws->out_head = 0;
    }
    if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) == WSLAY_ERR_NOMEM)
        return -ENOMEM;
    if (ws->out_len == 0) { /* nothing to write: no buffer kept */
        goc_free(ws->out);
        ws->out = NULL;
        *data = NULL;
        return 0;
    }
    *data = ws->out + ws->out_head;
    return (long)(ws->out_len - ws->out_head);
}

size_t goc_ws_queued_msgs(const goc_ws_t *ws)
{
    return wslay_event_get_queued_msg_count(ws->ctx);
}

void goc_ws_consume(goc_ws_t *ws, size_t n)
{
    if (n > ws->out_len - ws->out_head)
        n = ws->out_len - ws->out_head;
    ws->out_head += n;
}

bool goc_ws_want_read(const goc_ws_t *ws)
{
    return !ws->err && wslay_event_want_read(ws->ctx);
}

bool goc_ws_done(const goc_ws_t *ws)
{
    if (ws->err)
        return true;
    return wslay_event_get_close_sent(ws->ctx) && ws->out_head == ws->out_len &&
           !wslay_event_want_read(ws->ctx);
}

uint16_t goc_ws_close_code_sent(const goc_ws_t *ws)
{
    return wslay_event_get_close_sent(ws->ctx) ? wslay_event_get_status_code_sent(ws->ctx) : 0;
}

uint16_t goc_ws_close_code_received(const goc_ws_t *ws)
{
    return wslay_event_get_close_received(ws->ctx) ? wslay_event_get_status_code_received(ws->ctx)
                                                   : 0;
}
