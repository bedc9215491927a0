/* methods.c: the method table shared by every transport (doc/protocol.md,
 * "Methods"): echo and runtime.stats here, the chat's in chat_methods.c,
 * auth.login in auth.c (with --auth-secret);
 * and the count of calls per method and outcome for /metrics.
 *
 * The counters are indexed by the engine's own method numbers (the
 * observer is told the index), so the table is the one list of methods: a
 * method registered anywhere is counted under its name.
 */
#include "server.h"

#include <goc/malloc.h>

#include "auth.h"
#include "chat.h"
#include "log.h"

static int m_echo(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    *result = params ? json_incref(params) : NULL;
    return 0;
}

static int m_stats(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)params;
    if (!auth_call_ok(call))
        return -1;
    *result = stats_json();
    return *result ? 0 : -1;
}

/* ---- counting calls --------------------------------------------------------- */

/* Set by methods_register, then only counted into. */
static const jrpc_t *table;
static size_t nmethods;
static _Atomic uint64_t *calls; /* [nmethods + 1]; [nmethods]: no such method */

/* The outcomes counted one by one; any other code counts as "other". */
static const int codes[] = {0,
                            JRPC_PARSE_ERROR,
                            JRPC_INVALID_REQUEST,
                            JRPC_METHOD_NOT_FOUND,
                            JRPC_INVALID_PARAMS,
                            JRPC_INTERNAL_ERROR,
                            JRPC_NEEDS_PERSISTENT,
                            JRPC_NICK_TAKEN,
                            JRPC_NOT_JOINED,
                            JRPC_RATE_LIMITED,
                            JRPC_TOO_LARGE,
                            JRPC_UNAUTHORIZED};
#define NCODES (sizeof codes / sizeof codes[0])
static _Atomic uint64_t outcomes[NCODES + 1]; /* [NCODES]: other codes */

/* Counts each call and, at debug level, logs it: the method by its
 * registered name (never the name a peer sent), the outcome, the time. */
static void observe(void *ud, const jrpc_ctx_t *ctx, int method, int code, int64_t dur_ns)
{
    (void)ud;
    size_t i = method >= 0 && (size_t)method < nmethods ? (size_t)method : nmethods;
    if (log_enabled(LOG_DEBUG)) {
        char c[24], d[24];
        log_event(LOG_DEBUG, "rpc", "transport", ctx->transport ? ctx->transport : "",
                  "peer", ctx->peer ? ctx->peer : "", "method",
                  i < nmethods ? jrpc_method_name(table, i) : "(unknown)", "code",
                  log_i64(c, code), "dur_us", log_i64(d, dur_ns / 1000), (const char *)NULL);
    }
    atomic_fetch_add_explicit(&calls[i], 1, memory_order_relaxed);
    size_t k = 0;
    while (k < NCODES && codes[k] != code)
        k++;
    atomic_fetch_add_explicit(&outcomes[k], 1, memory_order_relaxed);
}

int methods_register(jrpc_t *rpc)
{
    int rc = jrpc_register(rpc, "echo", m_echo, NULL, 0);
    if (!rc)
        rc = jrpc_register(rpc, "runtime.stats", m_stats, NULL, 0);
    if (!rc)
        rc = chat_register_methods(rpc);
    if (!rc)
        rc = auth_register(rpc);
    if (rc)
        return rc;
    table = rpc;
    nmethods = jrpc_method_count(rpc);
    calls = goc_calloc(nmethods + 1, sizeof *calls);
    if (!calls)
        return -ENOMEM;
    jrpc_set_observer(rpc, observe, NULL);
    return 0;
}

void rpc_metrics(buf_t *b)
{
    buf_str(b, "# HELP gocd_rpc_calls_total JSON-RPC calls per method.\n"
               "# TYPE gocd_rpc_calls_total counter\n");
    for (size_t i = 0; i <= nmethods; i++)
        buf_printf(b, "gocd_rpc_calls_total{method=\"%s\"} %llu\n",
                   i < nmethods ? jrpc_method_name(table, i) : "(unknown)",
                   (unsigned long long)atomic_load(&calls[i]));
    buf_str(b, "# HELP gocd_rpc_outcomes_total JSON-RPC replies per error code (0: success).\n"
               "# TYPE gocd_rpc_outcomes_total counter\n");
    for (size_t k = 0; k < NCODES; k++)
        buf_printf(b, "gocd_rpc_outcomes_total{code=\"%d\"} %llu\n", codes[k],
                   (unsigned long long)atomic_load(&outcomes[k]));
    buf_printf(b, "gocd_rpc_outcomes_total{code=\"other\"} %llu\n",
               (unsigned long long)atomic_load(&outcomes[NCODES]));
}
