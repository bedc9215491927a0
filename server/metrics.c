/* metrics.c: /metrics in the Prometheus text exposition format: the
 * scheduler, the heap, connections per transport, chat messages and RPC
 * calls per method and outcome. */
#include "server.h"

#include <goc/malloc.h>
#include <errno.h>

#include "chat.h"

static void metric(buf_t *b, const char *name, const char *type, const char *help, double v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

int metrics_text(buf_t *out)
{
    buf_t b = {0};
    goc_sched_stats s;
    goc_sched_stats_read(&s);
    goc_mem_stats m;
    goc_mem_stats_read(&m);
    goc_sync_stats y;
    goc_sync_stats_read(&y);
    chat_stats c;
    chat_stats_read(&c);
    goc_net_stats n;
    goc_net_stats_read(&n);
    metric(&b, "goc_goroutines", "gauge", "Live goroutines.", (double)s.goroutines);
    metric(&b, "goc_threads", "gauge", "OS threads (Ms) started.", (double)s.threads);
    metric(&b, "goc_procs", "gauge", "Processors (Ps).", s.procs);
    buf_printf(&b, "# HELP goc_runq_length Goroutines in each P's local run queue.\n"
            "# TYPE goc_runq_length gauge\n");
    for (int i = 0; i < s.procs; i++)
        buf_printf(&b, "goc_runq_length{p=\"%d\"} %d\n", i, goc_sched_runq_len(i));
    metric(&b, "goc_switches_total", "counter", "Goroutine switches.", (double)s.switches);
    metric(&b, "goc_steals_total", "counter", "Goroutines stolen from another P.",
           (double)s.steals);
    metric(&b, "goc_spawns_total", "counter", "Goroutines started.", (double)s.spawns);
    metric(&b, "goc_syscalls_total", "counter", "Blocking calls entered.", (double)s.syscalls);
    metric(&b, "goc_hogs_total", "counter", "Goroutines reported running > 10 ms.",
           (double)s.hogs);
    metric(&b, "goc_heap_bytes_in_use", "gauge", "Bytes in live heap objects.",
           (double)m.bytes_in_use);
    metric(&b, "goc_heap_objects", "gauge", "Live heap objects.", (double)m.objects_in_use);
    metric(&b, "goc_heap_mapped_bytes", "gauge", "Heap address space mapped.",
           (double)m.heap_mapped);
    metric(&b, "goc_heap_released_pages", "gauge", "Free pages returned to the kernel.",
           (double)m.pages_released);
    metric(&b, "goc_chan_sends_total", "counter", "Channel sends.", (double)y.chan_sends);
    metric(&b, "goc_chan_recvs_total", "counter", "Channel receives.", (double)y.chan_recvs);
    metric(&b, "goc_mutex_starvations_total", "counter", "Mutex starvation-mode entries.",
           (double)y.mutex_starvations);
    metric(&b, "goc_netpoll_waiters", "gauge", "Goroutines parked on network I/O.",
           (double)n.waiters);
    metric(&b, "goc_netpoll_parks_total", "counter", "Reads, writes and accepts that parked.",
           (double)n.parks);
    metric(&b, "goc_netpoll_polls_total", "counter", "Network poller loop iterations.",
           (double)n.polls);
    buf_printf(&b, "# HELP gocd_connections Open connections per transport.\n"
            "# TYPE gocd_connections gauge\n");
    for (int t = 0; t < TRANSPORT_N; t++)
        buf_printf(&b, "gocd_connections{transport=\"%s\"} %lld\n", transport_name[t],
            (long long)atomic_load(&srv.conns_open[t]));
    buf_printf(&b, "# HELP gocd_connections_total Connections accepted per transport.\n"
            "# TYPE gocd_connections_total counter\n");
    for (int t = 0; t < TRANSPORT_N; t++)
        buf_printf(&b, "gocd_connections_total{transport=\"%s\"} %llu\n", transport_name[t],
            (unsigned long long)atomic_load(&srv.conns_total[t]));
    metric(&b, "gocd_connections_refused_total", "counter",
           "Connections closed at once because --max-conns were open.",
           (double)atomic_load(&srv.conns_rejected));
    metric(&b, "gocd_tls_handshakes_total", "counter", "TLS handshakes completed.",
           (double)atomic_load(&srv.tls_handshakes));
    metric(&b, "gocd_tls_handshake_failures_total", "counter",
           "TLS handshakes failed or timed out.",
           (double)atomic_load(&srv.tls_handshake_failures));
    metric(&b, "gocd_chat_rooms", "gauge", "Chat rooms.", (double)c.rooms);
    metric(&b, "gocd_chat_members", "gauge", "Members joined to rooms.", (double)c.members);
    metric(&b, "gocd_chat_messages_stored_total", "counter", "Chat messages stored.",
           (double)c.messages_stored);
    metric(&b, "gocd_chat_messages_delivered_total", "counter",
           "Chat messages pushed to members.", (double)c.messages_delivered);
    metric(&b, "gocd_chat_slow_kicks_total", "counter", "Members disconnected as too slow.",
           (double)c.slow_kicks);
    metric(&b, "gocd_chat_rate_limited_total", "counter", "Messages refused by the rate limit.",
           (double)c.rate_limited);
    rpc_metrics(&b);
    if (b.err) {
        buf_free(&b);
        return -ENOMEM;
    }
    *out = b;
    return 0;
}
