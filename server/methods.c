/* methods.c: the method table shared by every transport (PROTOCOL.md,
 * "Methods"): echo and runtime.stats here, the chat's in chat_methods.c;
 * and the count of calls per method and outcome for /metrics. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

static int m_echo(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    *result = params ? json_incref(params) : NULL;
    return 0;
}

static int m_stats(jrpc_call_t *call, json_t *params, json_t **result)
{
    (void)call;
    (void)params;
    *result = stats_json();
    return *result ? 0 : -1;
}

/* ---- counting calls --------------------------------------------------------- */

#define MAX_METHODS 32
static const char *method_names[MAX_METHODS]; /* set before serving, then read-only */
static int nmethods;
static _Atomic uint64_t calls[MAX_METHODS + 1]; /* [nmethods]: no such method */

static const int codes[] = {0, -32700, -32600, -32601, -32602, -32603,
                            -32001, -32002, -32003, -32004, -32005};
#define NCODES (sizeof codes / sizeof codes[0])
static _Atomic uint64_t outcomes[NCODES + 1]; /* [NCODES]: other codes */

static void observe(void *ud, const char *method, int code)
{
    (void)ud;
    int i = nmethods;
    if (method)
        for (i = 0; i < nmethods && strcmp(method_names[i], method) != 0; i++) {
        }
    atomic_fetch_add_explicit(&calls[i], 1, memory_order_relaxed);
    size_t k = 0;
    while (k < NCODES && codes[k] != code)
        k++;
    atomic_fetch_add_explicit(&outcomes[k], 1, memory_order_relaxed);
}

static int reg(jrpc_t *rpc, const char *name, jrpc_handler_fn fn, unsigned flags)
{
    if (nmethods < MAX_METHODS)
        method_names[nmethods++] = name;
    return jrpc_register(rpc, name, fn, NULL, flags);
}

int methods_register(jrpc_t *rpc)
{
    int rc = reg(rpc, "echo", m_echo, 0);
    if (!rc)
        rc = reg(rpc, "runtime.stats", m_stats, 0);
    if (!rc)
        rc = chat_register_methods(rpc);
    /* the chat's names, for the counters */
    static const char *const chat_names[] = {"chat.join",    "chat.leave", "chat.send",
                                             "chat.history", "chat.rooms", "chat.members"};
    for (size_t i = 0; i < sizeof chat_names / sizeof *chat_names && nmethods < MAX_METHODS; i++)
        method_names[nmethods++] = chat_names[i];
    jrpc_set_observer(rpc, observe, NULL);
    return rc;
}

/* Appends the RPC counters in Prometheus text to a growing buffer. */
void rpc_metrics(char **p, size_t *len, size_t *cap)
{
    char line[160];
    size_t need;
#define APPEND(...)                                                                           \
    do {                                                                                      \
        int n_ = snprintf(line, sizeof line, __VA_ARGS__);                                    \
        need = *len + (size_t)n_ + 1;                                                         \
        if (need > *cap) {                                                                    \
            size_t c_ = *cap ? *cap * 2 : 4096;                                               \
            while (c_ < need)                                                                 \
                c_ *= 2;                                                                      \
            char *np_ = realloc(*p, c_);                                                      \
            if (!np_)                                                                         \
                return;                                                                       \
            *p = np_;                                                                         \
            *cap = c_;                                                                        \
        }                                                                                     \
        memcpy(*p + *len, line, (size_t)n_ + 1);                                              \
        *len += (size_t)n_;                                                                   \
    } while (0)
    APPEND("# HELP gocd_rpc_calls_total JSON-RPC calls per method.\n");
    APPEND("# TYPE gocd_rpc_calls_total counter\n");
    for (int i = 0; i <= nmethods; i++)
        APPEND("gocd_rpc_calls_total{method=\"%s\"} %llu\n",
               i < nmethods ? method_names[i] : "(unknown)",
               (unsigned long long)atomic_load(&calls[i]));
    APPEND("# HELP gocd_rpc_outcomes_total JSON-RPC replies per error code (0: success).\n");
    APPEND("# TYPE gocd_rpc_outcomes_total counter\n");
    for (size_t k = 0; k <= NCODES; k++) {
        if (k < NCODES)
            APPEND("gocd_rpc_outcomes_total{code=\"%d\"} %llu\n", codes[k],
                   (unsigned long long)atomic_load(&outcomes[k]));
        else
            APPEND("gocd_rpc_outcomes_total{code=\"other\"} %llu\n",
                   (unsigned long long)atomic_load(&outcomes[k]));
    }
#undef APPEND
}
