-- tests/bench/web/rpc_echo.lua: wrk script of jsonrpc_http (issue 6): every
-- request is a JSON-RPC `echo` POSTed to /rpc.
wrk.method = "POST"
wrk.path = "/rpc"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"hello, world"}}'
