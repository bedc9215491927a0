/* metrics.c: /metrics in the Prometheus text exposition format: the
 * scheduler, the heap, the collector, connections per transport, chat
 * messages and RPC calls per method and outcome.
 *
 * The single-valued figures are one table (name, type, help, value),
 * filled from one reading of each statistics source; the labelled ones
 * (per P, per transport, per method) are written after it.
 */
#include "server.h"

#include <dirent.h>

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <goc/gc.h>
#include <goc/malloc.h>

#include "auth.h"
#include "chat.h"

typedef struct metric {
    const char *name;
    const char *type; /* "gauge" or "counter" */
    const char *help;
    double value;
} metric;

static void header(buf_t *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample per transport of a per-transport figure. */
static void per_transport(buf_t *b, const char *name, const char *type, const char *help,
                          const long long v[TRANSPORT_N])
{
    header(b, name, type, help);
    for (int t = 0; t < TRANSPORT_N; t++)
        buf_printf(b, "%s{transport=\"%s\"} %lld\n", name, transport_name[t], v[t]);
}

/* The process's own figures, under the names Prometheus's client
 * libraries use (process_*), read from the kernel. */
typedef struct proc_figures {
    double cpu_seconds, rss_bytes, open_fds, max_fds;
} proc_figures;

static void proc_read(proc_figures *p)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    p->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                     ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    p->rss_bytes = (double)pages * (double)sysconf(_SC_PAGESIZE);
    p->open_fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            p->open_fds += e->d_name[0] != '.';
        closedir(d);
        p->open_fds -= 1; /* the directory's own descriptor */
    }
    struct rlimit rl;
    p->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (double)rl.rlim_cur : 0;
}

/* The collector's pauses as a Prometheus histogram, in seconds: its
 * buckets are goc_gc_stats's, whose bucket i counts pauses under
 * 2^(i+1) microseconds (the last one everything else). */
static void gc_pauses(buf_t *b, const goc_gc_stats *g)
{
    header(b, "goc_gc_pause_seconds", "histogram", "The collector's stop-the-world pauses.");
    uint64_t cum = 0;
    for (int i = 0; i < GOC_GC_PAUSE_BUCKETS - 1; i++) {
        cum += g->pause_hist[i];
        buf_printf(b, "goc_gc_pause_seconds_bucket{le=\"%.6f\"} %llu\n",
                   (double)((uint64_t)2 << i) / 1e6, (unsigned long long)cum);
    }
    cum += g->pause_hist[GOC_GC_PAUSE_BUCKETS - 1];
    buf_printf(b, "goc_gc_pause_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    buf_printf(b, "goc_gc_pause_seconds_sum %.9f\n", (double)g->pause_total_ns / 1e9);
    buf_printf(b, "goc_gc_pause_seconds_count %llu\n", (unsigned long long)g->cycles);
}

/* Requests per route and status, the statuses seen only. */
static void http_requests(buf_t *b)
{
    header(b, "gocd_http_requests_total", "counter", "HTTP requests answered, by route and status.");
    for (int r = 0; r < ROUTE_N; r++)
        for (int k = 0; k < HTTP_STATUSES; k++) {
            uint64_t n = atomic_load_explicit(&srv.http_requests[r][k], memory_order_relaxed);
            if (!n)
                continue;
            char st[16];
            if (k < HTTP_STATUSES - 1)
                snprintf(st, sizeof st, "%d", http_status_counted[k]);
            else
                snprintf(st, sizeof st, "other");
            buf_printf(b, "gocd_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                       http_route_name[r], st, (unsigned long long)n);
        }
}

int metrics_text(buf_t *out)
{
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
    goc_gc_stats g;
    goc_gc_stats_read(&g);
    proc_figures pf;
    proc_read(&pf);
    const metric table[] = {
        {"process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
         pf.cpu_seconds},
        {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
         pf.rss_bytes},
        {"process_open_fds", "gauge", "Open file descriptors.", pf.open_fds},
        {"process_max_fds", "gauge", "The limit of open file descriptors.", pf.max_fds},
        {"process_start_time_seconds", "gauge", "When the process started, in seconds since "
         "the epoch.", (double)srv.start_time},
        {"goc_goroutines", "gauge", "Live goroutines.", (double)s.goroutines},
        {"goc_threads", "gauge", "OS threads (Ms) started.", (double)s.threads},
        {"goc_procs", "gauge", "Processors (Ps).", s.procs},
        {"goc_switches_total", "counter", "Goroutine switches.", (double)s.switches},
        {"goc_steals_total", "counter", "Goroutines stolen from another P.", (double)s.steals},
        {"goc_spawns_total", "counter", "Goroutines started.", (double)s.spawns},
        {"goc_syscalls_total", "counter", "Blocking calls entered.", (double)s.syscalls},
        {"goc_hogs_total", "counter", "Goroutines reported running > 10 ms.", (double)s.hogs},
        {"goc_heap_bytes_in_use", "gauge", "Bytes in live heap objects.",
         (double)m.bytes_in_use},
        {"goc_heap_objects", "gauge", "Live heap objects.", (double)m.objects_in_use},
        {"goc_heap_mapped_bytes", "gauge", "Heap address space mapped.", (double)m.heap_mapped},
        {"goc_heap_released_pages", "gauge", "Free pages returned to the kernel.",
         (double)m.pages_released},
        {"goc_gc_cycles_total", "counter", "Collections completed.", (double)g.cycles},
        {"goc_gc_forced_total", "counter", "Collections run by goc_gc or forced.",
         (double)g.forced},
        {"goc_gc_pause_max_seconds", "gauge", "The longest stop-the-world pause.",
         (double)g.pause_max_ns / 1e9},
        {"goc_gc_heap_live_bytes", "gauge", "Collected bytes counted in use.",
         (double)g.heap_live},
        {"goc_gc_heap_marked_bytes", "gauge", "Collected bytes the last collection found live.",
         (double)g.heap_marked},
        {"goc_gc_heap_goal_bytes", "gauge", "Collected heap at which the next collection "
         "starts (0: GOGC off).", (double)g.heap_goal},
        {"goc_gc_percent", "gauge", "GOGC (-1: off).", (double)g.percent},
        {"goc_chan_sends_total", "counter", "Channel sends.", (double)y.chan_sends},
        {"goc_chan_recvs_total", "counter", "Channel receives.", (double)y.chan_recvs},
        {"goc_mutex_starvations_total", "counter", "Mutex starvation-mode entries.",
         (double)y.mutex_starvations},
        {"goc_netpoll_waiters", "gauge", "Goroutines parked on network I/O.", (double)n.waiters},
        {"goc_netpoll_parks_total", "counter", "Reads, writes and accepts that parked.",
         (double)n.parks},
        {"goc_netpoll_polls_total", "counter", "Network poller loop iterations.",
         (double)n.polls},
        {"gocd_connections_refused_total", "counter",
         "Connections closed at once: --max-conns were open, or their address was over a limit.",
         (double)atomic_load(&srv.conns_rejected)},
        {"gocd_connections_refused_address_total", "counter",
         "Connections refused past --max-conns-per-ip or --conn-rate.",
         (double)atomic_load(&srv.conns_rejected_addr)},
        {"gocd_auth_failures_total", "counter", "Tokens refused (HTTP 401, auth.login).",
         (double)auth_failures()},
        {"gocd_tls_handshakes_total", "counter", "TLS handshakes completed.",
         (double)atomic_load(&srv.tls_handshakes)},
        {"gocd_tls_handshake_failures_total", "counter", "TLS handshakes failed or timed out.",
         (double)atomic_load(&srv.tls_handshake_failures)},
        {"gocd_chat_rooms", "gauge", "Chat rooms.", (double)c.rooms},
        {"gocd_chat_members", "gauge", "Members joined to rooms.", (double)c.members},
        {"gocd_chat_messages_stored_total", "counter", "Chat messages stored.",
         (double)c.messages_stored},
        {"gocd_chat_messages_delivered_total", "counter", "Chat messages pushed to members.",
         (double)c.messages_delivered},
        {"gocd_chat_slow_kicks_total", "counter", "Members disconnected as too slow.",
         (double)c.slow_kicks},
        {"gocd_chat_rate_limited_total", "counter", "Messages refused by the rate limit.",
         (double)c.rate_limited},
    };
    buf_t b = {0};
    header(&b, "gocd_build_info", "gauge", "The server's version (always 1).");
    buf_printf(&b, "gocd_build_info{version=\"%s\"} 1\n", GOCD_VERSION);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        header(&b, table[i].name, table[i].type, table[i].help);
        buf_printf(&b, "%s %.17g\n", table[i].name, table[i].value);
    }
    header(&b, "goc_runq_length", "gauge", "Goroutines in each P's local run queue.");
    for (int i = 0; i < s.procs; i++)
        buf_printf(&b, "goc_runq_length{p=\"%d\"} %d\n", i, goc_sched_runq_len(i));
    long long open[TRANSPORT_N], total[TRANSPORT_N];
    for (int t = 0; t < TRANSPORT_N; t++) {
        open[t] = (long long)atomic_load(&srv.conns_open[t]);
        total[t] = (long long)atomic_load(&srv.conns_total[t]);
    }
    per_transport(&b, "gocd_connections", "gauge", "Open connections per transport.", open);
    per_transport(&b, "gocd_connections_total", "counter", "Connections accepted per transport.",
                  total);
    gc_pauses(&b, &g);
    http_requests(&b);
    header(&b, "gocd_node_info", "gauge", "This server's name (--node), as a label.");
    buf_printf(&b, "gocd_node_info{node=\"%s\"} 1\n", chat_node());
    chat_broker_metrics(&b);
    rpc_metrics(&b);
    if (b.err) {
        buf_free(&b);
        return -ENOMEM;
    }
    *out = b;
    return 0;
}
