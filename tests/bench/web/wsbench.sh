#!/usr/bin/env bash
# tests/bench/web/wsbench.sh SERVER NAME MODE [ARGS...]: one side of a web
# benchmark (issue 6), for a `sh:` line of benchmarks.txt.
#
# Starts SERVER on 127.0.0.1 with a free port, waits for its
# "listening http ADDR" line, runs the load against ADDR, stops the server,
# and prints one "RESULT NAME <value> <unit>" line.
#
# SERVER is one of:
#   gocd   our server (build-bench/server/gocd), no rate limit, :memory: history
#   gocd-auth  the same with --auth-secret (a fresh key); http mode sends a
#          token (scripts/token) with every request
#   go     the Go peer (tests/bench/web/go/wschat: gorilla/websocket's chat
#          design, and net/http + encoding/json for POST /rpc)
#   node   the Node.js peer (tests/bench/node/server.js on npm's ws)
# MODE is one of:
#   broadcast -clients C -msgs N   wsload: chat.message deliveries per second
#   idle -conns N                  wsload: server VmRSS growth per idle WebSocket
#   http                           wrk, 64 connections, JSON-RPC echo on POST /rpc
#
# Throughput results end with cpu_us=X: the server's user + system CPU time
# (/proc/PID/stat) over the measured run, divided by the deliveries
# (broadcast, measured by wsload) or the requests (http, by this script).
#
# The Go programs need Debian's golang-github-gorilla-websocket-dev, which
# lives in GOPATH=/usr/share/gocode (scripts/bench's own Go loop does not set
# it), so this script builds them into BUILD/web when missing or older than
# their source; the Node peer's packages come from its lockfile (`npm ci`).
# The descriptor limit is raised to the hard limit (bench_server.sh, shared
# with netbench.sh, does it and starts and stops the server). BENCH_BUILD
# overrides the build directory (default build-bench).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${BENCH_BUILD:-$root/build-bench}
[ $# -ge 3 ] || { echo "usage: wsbench.sh SERVER NAME MODE [ARGS...]" >&2; exit 2; }
server=$1 name=$2 mode=$3
shift 3
# Every benchmark client connects from 127.0.0.1: the per-address limits
# (--conn-rate, --max-conns-per-ip: doc/security.md) would refuse the
# 512- and 1000-client runs, and the peers have none.
one_address=(--conn-rate 0 --max-conns-per-ip 1000000)

# gobuild NAME: builds tests/bench/web/go/NAME into $build/web/NAME if stale.
gobuild() {
    local src=$root/tests/bench/web/go/$1 out=$build/web/$1
    if [ ! -x "$out" ] || [ -n "$(find "$src" -newer "$out" -name '*.go')" ]; then
        mkdir -p "$build/web"
        (cd "$src" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= \
            GOCACHE="$build/web/cache" go build -o "$out" .) >&2
    fi
}

. "$root/tests/bench/bench_server.sh"

auth=()
case $server in
    gocd) cmd=("$build/server/gocd" "${one_address[@]}" --http 127.0.0.1:0 --tcp off --db :memory: --rate 0 --log-level error) ;;
    gocd-auth)
        token=$("$root/scripts/token" bench --key "$tmp/auth.key" 2>/dev/null)
        auth=(-H "Authorization: Bearer $token")
        export GOC_BENCH_TOKEN=$token # read by rpc_echo.lua
        cmd=("$build/server/gocd" "${one_address[@]}" --http 127.0.0.1:0 --tcp off --db :memory: --rate 0 --log-level error
            --auth-secret "$tmp/auth.key") ;;
    go) gobuild wschat; cmd=("$build/web/wschat" -addr 127.0.0.1:0) ;;
    node)
        if [ ! -d "$root/tests/bench/node/node_modules/ws" ]; then
            (cd "$root/tests/bench/node" && npm ci --no-audit --no-fund --silent) >&2
        fi
        cmd=(node "$root/tests/bench/node/server.js" 127.0.0.1:0) ;;
    *) echo "wsbench.sh: unknown server $server" >&2; exit 2 ;;
esac
[ "$mode" = http ] || gobuild wsload

bench_server_start http "wsbench.sh: $server" "${cmd[@]}"

case $mode in
    broadcast|idle)
        "$build/web/wsload" -name "$name" -addr "$addr" -mode "$mode" -pid "$pid" "$@" ;;
    http)
        # one correct answer first, then 1 s of warm-up and 3 s measured
        body=$(curl -sS -X POST -H 'Content-Type: application/json' ${auth[@]+"${auth[@]}"} \
            --data '{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"hello, world"}}' \
            "http://$addr/rpc")
        case $body in
            *'"result"'*'hello, world'*) ;;
            *) echo "wsbench.sh: bad echo reply from $server: $body" >&2; exit 1 ;;
        esac
        lua=$root/tests/bench/web/rpc_echo.lua
        wrk -t1 -c64 -d1s -s "$lua" "http://$addr" >/dev/null
        cpu0=$(cpu_ticks "$pid")
        wrk -t1 -c64 -d3s -s "$lua" "http://$addr" >"$tmp/wrk"
        cpu1=$(cpu_ticks "$pid")
        cat "$tmp/wrk" >&2
        if grep -q -e 'Non-2xx' -e 'Socket errors' "$tmp/wrk"; then
            echo "wsbench.sh: wrk saw errors against $server" >&2
            exit 1
        fi
        rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk")
        reqs=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$tmp/wrk")
        [ -n "$rps" ] && [ -n "$reqs" ] || { echo "wsbench.sh: no Requests/sec from wrk" >&2; exit 1; }
        # server CPU per request: its ticks (1/100 s) over the measured run
        cpu_us=$(awk -v t="$((cpu1 - cpu0))" -v n="$reqs" 'BEGIN { printf "%.3f", t * 1e4 / n }')
        echo "wsbench.sh: server CPU $cpu_us us per request" >&2
        echo "RESULT $name $rps req/s cpu_us=$cpu_us" ;;
    *) echo "wsbench.sh: unknown mode $mode" >&2; exit 2 ;;
esac
