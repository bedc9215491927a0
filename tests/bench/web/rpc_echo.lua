-- tests/bench/web/rpc_echo.lua: wrk script of jsonrpc_http (issue 6): every
-- request is a JSON-RPC `echo` POSTed to /rpc; with GOC_BENCH_TOKEN in the
-- environment (jsonrpc_http_auth), each carries it as a bearer token.
wrk.method = "POST"
wrk.path = "/rpc"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"hello, world"}}'
local token = os.getenv("GOC_BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
