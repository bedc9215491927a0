/* stats.c: the runtime's live figures as JSON (runtime.stats, /api/stats):
 * at least goroutines, procs, threads, runq, switches, steals, uptime_ms and
 * a heap object (doc/protocol.md), the collector's figures (gc), with the
 * connections open per transport and the chat's counters (what the runtime
 * page charts). */
#include "server.h"

#include <goc/gc.h>
#include <goc/malloc.h>

#include "chat.h"

static const char *const transport_names[TRANSPORT_N] = {"tcp", "http", "ws"};

/* The collector's figures: cycles, pauses (last, longest, total, and how
 * many fell in each power-of-two range of microseconds), the collected
 * heap and its goal. */
static json_t *gc_json(void)
{
    goc_gc_stats g;
    goc_gc_stats_read(&g);
    json_t *hist = json_array();
    for (int i = 0; i < GOC_GC_PAUSE_BUCKETS; i++)
        json_array_append_new(hist, json_integer((json_int_t)g.pause_hist[i]));
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:i, s:I, s:I}", "cycles",
                     (json_int_t)g.cycles, "forced", (json_int_t)g.forced, "pause_last_ns",
                     (json_int_t)g.pause_last_ns, "pause_max_ns", (json_int_t)g.pause_max_ns,
                     "pause_total_ns", (json_int_t)g.pause_total_ns, "pause_hist_us", hist,
                     "heap_live", (json_int_t)g.heap_live, "heap_marked",
                     (json_int_t)g.heap_marked, "heap_goal", (json_int_t)g.heap_goal,
                     "percent", (int)g.percent, "finalizers_queued",
                     (json_int_t)g.finalizers_queued, "finalizers_run",
                     (json_int_t)g.finalizers_run);
}

json_t *stats_json(void)
{
    goc_sched_stats s;
    goc_sched_stats_read(&s);
    goc_net_stats n;
    goc_net_stats_read(&n);
    goc_sync_stats y;
    goc_sync_stats_read(&y);
    goc_mem_stats m;
    goc_mem_stats_read(&m);
    chat_stats c;
    chat_stats_read(&c);

    json_t *runq = json_array();
    for (int i = 0; i < s.procs; i++)
        json_array_append_new(runq, json_integer(goc_sched_runq_len(i)));
    json_t *conns = json_object();
    for (int t = 0; t < TRANSPORT_N; t++)
        json_object_set_new(conns, transport_names[t],
                            json_integer(atomic_load(&srv.conns_open[t])));
    json_t *heap = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
                             "bytes_in_use", (json_int_t)m.bytes_in_use,
                             "objects", (json_int_t)m.objects_in_use,
                             "spans", (json_int_t)(m.spans_small + m.spans_large),
                             "mapped", (json_int_t)m.heap_mapped,
                             "pages_free", (json_int_t)m.pages_free,
                             "pages_released", (json_int_t)m.pages_released);
    json_t *chat = json_pack("{s:I, s:I, s:I, s:I}", "rooms", (json_int_t)c.rooms, "members",
                             (json_int_t)c.members, "messages_stored",
                             (json_int_t)c.messages_stored, "messages_delivered",
                             (json_int_t)c.messages_delivered);
    json_t *out = json_pack(
        "{s:I, s:i, s:i, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I}, s:o, s:o}",
        "goroutines", (json_int_t)s.goroutines, "procs", s.procs, "threads", s.threads,
        "runq", runq, "switches", (json_int_t)s.switches, "steals", (json_int_t)s.steals,
        "spawns", (json_int_t)s.spawns, "syscalls", (json_int_t)s.syscalls,
        "hogs", (json_int_t)s.hogs, "uptime_ms", (json_int_t)(s.uptime_ns / 1000000),
        "heap", heap, "conns", conns, "chan", "sends", (json_int_t)y.chan_sends, "recvs",
        (json_int_t)y.chan_recvs, "selects", (json_int_t)y.selects, "parks",
        (json_int_t)y.chan_parks, "mutex_starvations", (json_int_t)y.mutex_starvations, "net",
        "io_waiters", (json_int_t)n.waiters, "polls", (json_int_t)n.polls, "chat", chat, "gc",
        gc_json());
    if (out) { /* which server, and its broker (several servers: Redis) */
        json_object_set_new(out, "node", json_string(chat_node()));
        json_object_set_new(out, "broker", chat_broker_json());
    }
    return out;
}
