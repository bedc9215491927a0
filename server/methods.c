/* methods.c: the method table shared by every transport (PROTOCOL.md,
 * "Methods"): echo and runtime.stats. */
#include "server.h"

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

int methods_register(jrpc_t *rpc)
{
    int rc = jrpc_register(rpc, "echo", m_echo, NULL, 0);
    if (!rc)
        rc = jrpc_register(rpc, "runtime.stats", m_stats, NULL, 0);
    return rc;
}
