/* loadgen.c: the load client of the network benchmarks (issue 5), the same
 * for every server, ours or a peer's. Plain epoll and non-blocking sockets,
 * nothing of our runtime, so that it favours no server.
 *
 *   loadgen --name NAME --addr HOST:PORT [--mode raw|jsonrpc] [--conns N]
 *           [--inflight K] [--size B] [--duration S] [--warmup S]
 *           [--threads T] [--pid PID]
 *   loadgen --name NAME --addr HOST:PORT --idle N --pid PID
 *
 * Throughput mode: opens N connections, keeps K frames in flight on each
 * (a reply sends the next request), and counts complete reply frames during
 * --duration seconds after --warmup seconds. Every reply is checked: in raw
 * mode it must be the very bytes sent (each payload carries the connection's
 * sequence number, so a reordered or corrupted frame is caught); in jsonrpc
 * mode it must hold "result" and no "error". Prints
 *   RESULT NAME <frames/s> frames/s [cpu_us=<server CPU us per frame>]
 * the last with --pid: the server's user + system time (/proc/PID/stat)
 * over the measured window, divided by the frames answered in it.
 *
 * Idle mode (--idle N): reads the server's VmRSS (/proc/PID/status), opens N
 * connections, each sends one JSON-RPC echo request and reads the reply,
 * then all stay open; after a settling pause reads VmRSS again and prints
 *   RESULT NAME <(after - before) / N> bytes
 *
 * Invariants: a connection's `sent - recv` is the count of requests in
 * flight, <= K; `out` holds bytes accepted for sending but not yet written;
 * `in` holds the start of a reply frame not yet complete. Any failed check
 * or socket error exits with status 1 and no RESULT line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOAD 4096

typedef struct options {
    const char *name;  /* the RESULT name */
    const char *addr;  /* HOST:PORT, numeric IPv4 */
    int jsonrpc;       /* 0: raw frames echoed back; 1: JSON-RPC echo calls */
    int conns;         /* connections */
    int inflight;      /* requests in flight per connection */
    int size;          /* raw payload bytes */
    double duration;   /* seconds measured */
    double warmup;     /* seconds before measuring */
    int threads;       /* client threads, each with its own connections */
    int idle;          /* idle mode: connections to open (0: throughput mode) */
    long pid;          /* idle mode: the server's process id */
} options;

typedef struct conn {
    int fd;
    uint64_t sent, recv;   /* requests sent and replies checked */
    char out[16 * 1024];   /* bytes waiting to be written */
    size_t out_len;
    int want_out;          /* EPOLLOUT is armed */
    char in[16 * 1024];    /* bytes read, not yet whole reply frames */
    size_t in_len;
} conn;

typedef struct worker {
    const options *o;
    conn *cs;          /* this thread's connections */
    int n;             /* how many */
    int ep;            /* its epoll instance */
    struct worker *first; /* worker 0, which samples the server's CPU time */
    double cpu0;       /* worker 0: server CPU seconds when measuring began */
    double self0;      /* worker 0: loadgen's CPU seconds then */
    uint64_t counted;  /* replies in the measured window */
    pthread_t tid;
} worker;

static struct sockaddr_in server_sa;
static struct timespec t_start; /* when the load begins, shared by the threads */

static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void parse_addr(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        die("bad address %s", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    server_sa.sin_family = AF_INET;
    server_sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &server_sa.sin_addr) != 1)
        die("bad address %s", addr);
}

/* A blocking connect, then non-blocking with TCP_NODELAY. */
static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&server_sa, sizeof server_sa) < 0)
        die("connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* ---- requests and replies --------------------------------------------- */

/* Writes request number seq into p (header included); returns its length. */
static size_t make_request(const options *o, uint64_t seq, char *p)
{
    size_t n;
    if (o->jsonrpc) {
        /* about 64 bytes of JSON, like the raw payload */
        n = (size_t)snprintf(p + 4, MAX_PAYLOAD,
                             "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"abcdefgh\"],"
                             "\"id\":%llu}",
                             (unsigned long long)seq);
    } else {
        n = (size_t)o->size;
        uint64_t s = seq;
        for (size_t i = 0; i < n; i++) {
            p[4 + i] = (char)(i < 8 ? (s >> (8 * i)) & 0xff : 'a' + (s + i) % 26);
        }
    }
    p[0] = (char)(n >> 24);
    p[1] = (char)(n >> 16);
    p[2] = (char)(n >> 8);
    p[3] = (char)n;
    return n + 4;
}

/* The number after "id": in the JSON reply p[0..n), or UINT64_MAX. */
static uint64_t reply_id(const char *p, size_t n)
{
    const char *k = memmem(p, n, "\"id\"", 4);
    if (!k)
        return UINT64_MAX;
    const char *e = p + n;
    k += 4;
    while (k < e && (*k == ' ' || *k == ':'))
        k++;
    if (k == e || *k < '0' || *k > '9')
        return UINT64_MAX;
    uint64_t v = 0;
    while (k < e && *k >= '0' && *k <= '9')
        v = v * 10 + (uint64_t)(*k++ - '0');
    return v;
}

/* Checks reply number seq (payload p[0..n)). */
static void check_reply(const options *o, uint64_t seq, const char *p, size_t n)
{
    if (o->jsonrpc) {
        /* "result" holds the params, and the id is this request's */
        if (!memmem(p, n, "\"result\"", 8) || !memmem(p, n, "\"abcdefgh\"", 10) ||
            memmem(p, n, "\"error\"", 7) || reply_id(p, n) != seq)
            die("bad JSON-RPC reply to %llu: %.*s", (unsigned long long)seq,
                (int)(n > 200 ? 200 : n), p);
        return;
    }
    char want[MAX_PAYLOAD + 4];
    size_t wn = make_request(o, seq, want) - 4;
    if (n != wn || memcmp(p, want + 4, n) != 0)
        die("reply %llu differs from the request (%zu bytes)", (unsigned long long)seq, n);
}

/* ---- one connection's I/O ---------------------------------------------- */

static void arm(worker *w, conn *c, int want_out)
{
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->want_out = want_out;
}

static void flush_out(worker *w, conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t k = write(c->fd, c->out + off, c->out_len - off);
        if (k < 0) {
            if (errno == EAGAIN)
                break;
            die("write: %s", strerror(errno));
        }
        off += (size_t)k;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    arm(w, c, c->out_len > 0);
}

/* Queues requests until inflight are outstanding (or out is full). */
static void top_up(const options *o, conn *c)
{
    while (c->sent - c->recv < (uint64_t)o->inflight &&
           c->out_len + MAX_PAYLOAD + 4 <= sizeof c->out) {
        c->out_len += make_request(o, c->sent, c->out + c->out_len);
        c->sent++;
    }
}

/* Consumes whole reply frames at p[0..n); returns the bytes consumed. */
static size_t take_frames(const options *o, conn *c, const char *p, size_t n, uint64_t *got)
{
    size_t off = 0;
    while (n - off >= 4) {
        const unsigned char *h = (const unsigned char *)p + off;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (len > MAX_PAYLOAD)
            die("reply frame of %zu bytes", len);
        if (n - off < 4 + len)
            break;
        if (c->recv >= c->sent)
            die("a reply nobody asked for");
        check_reply(o, c->recv, p + off + 4, len);
        c->recv++;
        (*got)++;
        off += 4 + len;
    }
    return off;
}

/* Reads what is there into c->in; returns the count of complete replies. */
static uint64_t on_readable(const options *o, conn *c)
{
    uint64_t got = 0;
    for (;;) {
        size_t room = sizeof c->in - c->in_len;
        ssize_t k = read(c->fd, c->in + c->in_len, room);
        if (k < 0) {
            if (errno == EAGAIN)
                break;
            die("read: %s", strerror(errno));
        }
        if (k == 0)
            die("the server closed a connection");
        c->in_len += (size_t)k;
        size_t used = take_frames(o, c, c->in, c->in_len, &got);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if ((size_t)k < room)
            break;
    }
    return got;
}

/* CPU seconds (user + system) the process pid has used; 0 when unknown. */
static double cpu_seconds(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- throughput mode ----------------------------------------------------- */

static void *worker_main(void *arg)
{
    worker *w = arg;
    const options *o = w->o;
    struct epoll_event evs[256];
    double t0 = (double)t_start.tv_sec + t_start.tv_nsec / 1e9;
    double t_measure = t0 + o->warmup, t_end = t_measure + o->duration;
    for (int i = 0; i < w->n; i++) {
        top_up(o, &w->cs[i]);
        flush_out(w, &w->cs[i]);
    }
    int measuring = 0;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_measure) {
            measuring = 1;
            w->counted = 0;
            if (w == w->first && o->pid > 0) {
                w->cpu0 = cpu_seconds(o->pid);
                w->self0 = cpu_seconds((long)getpid());
            }
        }
        if (t >= t_end)
            break;
        int n = epoll_wait(w->ep, evs, 256, 10);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                w->counted += on_readable(o, c);
            top_up(o, c);
            if (c->out_len)
                flush_out(w, c);
        }
    }
    return NULL;
}

static void throughput(const options *o)
{
    conn *cs = calloc((size_t)o->conns, sizeof *cs);
    worker *ws = calloc((size_t)o->threads, sizeof *ws);
    if (!cs || !ws)
        die("out of memory");
    for (int t = 0; t < o->threads; t++) {
        ws[t].o = o;
        ws[t].ep = epoll_create1(0);
        ws[t].first = &ws[0];
        ws[t].cs = cs + (size_t)o->conns * t / o->threads;
        ws[t].n = o->conns * (t + 1) / o->threads - o->conns * t / o->threads;
    }
    for (int i = 0; i < o->conns; i++) {
        worker *w = &ws[(size_t)i * o->threads / o->conns];
        cs[i].fd = dial();
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0)
            die("epoll_ctl: %s", strerror(errno));
    }
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    for (int t = 1; t < o->threads; t++)
        pthread_create(&ws[t].tid, NULL, worker_main, &ws[t]);
    worker_main(&ws[0]);
    uint64_t total = ws[0].counted;
    for (int t = 1; t < o->threads; t++) {
        pthread_join(ws[t].tid, NULL);
        total += ws[t].counted;
    }
    double srv_cpu = o->pid > 0 ? cpu_seconds(o->pid) - ws[0].cpu0 : 0;
    if (o->pid > 0 && total > 0) { /* how much CPU the server got, and spent per frame */
        fprintf(stderr,
                "loadgen: %s: server CPU %.0f%% of a core, %.2f us per frame; loadgen CPU %.0f%%\n",
                o->name, 100 * srv_cpu / o->duration, 1e6 * srv_cpu / (double)total,
                100 * (cpu_seconds((long)getpid()) - ws[0].self0) / o->duration);
        printf("RESULT %s %.3f frames/s cpu_us=%.3f\n", o->name, (double)total / o->duration,
               1e6 * srv_cpu / (double)total);
    } else {
        printf("RESULT %s %.3f frames/s\n", o->name, (double)total / o->duration);
    }
    fflush(stdout);
    for (int i = 0; i < o->conns; i++)
        close(cs[i].fd);
    free(cs);
    free(ws);
}

/* ---- idle mode ----------------------------------------------------------- */

static long vmrss_bytes(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    if (kb < 0)
        die("no VmRSS in %s", path);
    return kb * 1024;
}

/* Waits until c's requests are answered. */
static void await_reply(const options *o, conn *c, int ep)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    while (c->recv < c->sent) {
        if (epoll_wait(ep, &ev, 1, 10000) != 1)
            die("no reply within 10 s");
        on_readable(o, c);
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
}

/* Opens a connection, makes one echo call on it and returns its fd. */
static int dial_and_echo(const options *o, conn *c, int ep)
{
    memset(c, 0, sizeof *c);
    c->fd = dial();
    c->out_len = make_request(o, 0, c->out);
    c->sent = 1;
    size_t off = 0;
    while (off < c->out_len) { /* 70 bytes into an empty socket: no EAGAIN */
        ssize_t k = write(c->fd, c->out + off, c->out_len - off);
        if (k < 0)
            die("write: %s", strerror(errno));
        off += (size_t)k;
    }
    await_reply(o, c, ep);
    return c->fd;
}

static void idle(const options *o)
{
    conn *c = calloc(1, sizeof *c);
    int *fds = calloc((size_t)o->idle, sizeof *fds);
    int ep = epoll_create1(0);
    if (!c || !fds || ep < 0)
        die("out of memory");
    /* one connection first, so the server's one-time setup is not counted */
    int first = dial_and_echo(o, c, ep);
    usleep(300000);
    long before = vmrss_bytes(o->pid);
    for (int i = 0; i < o->idle; i++)
        fds[i] = dial_and_echo(o, c, ep);
    usleep(1000000); /* let the server settle (a Go GC cycle, freed buffers) */
    long after = vmrss_bytes(o->pid);
    fprintf(stderr, "loadgen: %d idle connections: server VmRSS %ld -> %ld bytes\n", o->idle,
            before, after);
    printf("RESULT %s %.3f bytes\n", o->name, (double)(after - before) / o->idle);
    fflush(stdout);
    for (int i = 0; i < o->idle; i++)
        close(fds[i]);
    close(first);
    close(ep);
    free(fds);
    free(c);
}

/* ---- main ------------------------------------------------------------------ */

static const char *arg_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        die("%s needs a value", argv[*i]);
    return argv[++*i];
}

int main(int argc, char **argv)
{
    options o = {.conns = 64, .inflight = 16, .size = 64, .duration = 3, .warmup = 0.5,
                 .threads = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--name") == 0)
            o.name = arg_value(argc, argv, &i);
        else if (strcmp(a, "--addr") == 0)
            o.addr = arg_value(argc, argv, &i);
        else if (strcmp(a, "--mode") == 0)
            o.jsonrpc = strcmp(arg_value(argc, argv, &i), "jsonrpc") == 0;
        else if (strcmp(a, "--conns") == 0)
            o.conns = atoi(arg_value(argc, argv, &i));
        else if (strcmp(a, "--inflight") == 0)
            o.inflight = atoi(arg_value(argc, argv, &i));
        else if (strcmp(a, "--size") == 0)
            o.size = atoi(arg_value(argc, argv, &i));
        else if (strcmp(a, "--duration") == 0)
            o.duration = atof(arg_value(argc, argv, &i));
        else if (strcmp(a, "--warmup") == 0)
            o.warmup = atof(arg_value(argc, argv, &i));
        else if (strcmp(a, "--threads") == 0)
            o.threads = atoi(arg_value(argc, argv, &i));
        else if (strcmp(a, "--idle") == 0)
            o.idle = atoi(arg_value(argc, argv, &i));
        else if (strcmp(a, "--pid") == 0)
            o.pid = atol(arg_value(argc, argv, &i));
        else
            die("unknown argument %s", a);
    }
    if (!o.name || !o.addr || o.conns < 1 || o.inflight < 1 || o.size < 8 ||
        o.size > MAX_PAYLOAD || o.duration <= 0 || o.threads < 1 || o.threads > o.conns ||
        (o.idle && o.pid <= 0))
        die("usage: loadgen --name NAME --addr HOST:PORT [--mode raw|jsonrpc] [--conns N] "
            "[--inflight K] [--size B] [--duration S] [--warmup S] [--threads T] "
            "| --idle N --pid PID");
    parse_addr(o.addr);
    if (o.idle) {
        o.jsonrpc = 1;
        idle(&o);
    } else {
        throughput(&o);
    }
    return 0;
}
