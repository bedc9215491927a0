#!/usr/bin/env bash
# tests/bench/web/clusterbench.sh SERVER NAME MODE [ARGS...]: one side of a
# cluster benchmark (issue 15), for a `sh:` line of benchmarks.txt.
#
# Starts a redis-server of its own on a free port (no persistence: both
# sides pay the same for Redis), then the servers on it, waits for their
# "listening http ADDR" lines, runs wsload against them, stops everything
# and prints wsload's RESULT lines.
#
# SERVER is one of:
#   gocd    two gocd processes with --redis (no rate limit)
#   node    two processes of the Node.js peer (tests/bench/node/server.js
#           with a Redis URL: ws and ioredis)
#   gocd1   one gocd without Redis (the cost of the cluster, by difference)
#   node1   one Node.js peer without Redis
# MODE is wsload's: cluster -clients C -msgs N, or latency -rate R -seconds S.
# BENCH_BUILD overrides the build directory (default build-bench).
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${BENCH_BUILD:-$root/build-bench}
[ $# -ge 3 ] || { echo "usage: clusterbench.sh SERVER NAME MODE [ARGS...]" >&2; exit 2; }
server=$1 name=$2 mode=$3
shift 3
# Every benchmark client connects from 127.0.0.1: the per-address limits
# (--conn-rate, --max-conns-per-ip: doc/security.md) would refuse the
# 512- and 1000-client runs, and the peers have none.
one_address=(--conn-rate 0 --max-conns-per-ip 1000000)

ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# the load client (wsbench.sh builds it the same way)
src=$root/tests/bench/web/go/wsload out=$build/web/wsload
if [ ! -x "$out" ] || [ -n "$(find "$src" -newer "$out" -name '*.go')" ]; then
    mkdir -p "$build/web"
    (cd "$src" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= \
        GOCACHE="$build/web/cache" go build -o "$out" .) >&2
fi
if [ "${server#node}" != "$server" ] && [ ! -d "$root/tests/bench/node/node_modules/ioredis" ]; then
    (cd "$root/tests/bench/node" && npm ci --no-audit --no-fund --silent) >&2
fi

# start CMD...: runs it, waits for its "listening http ADDR"; appends ADDR to addrs.
addrs=
start() {
    local n=${#pids[@]} addr=
    "$@" >"$tmp/out$n" 2>"$tmp/err$n" &
    pids+=($!)
    for _ in $(seq 200); do
        addr=$(sed -n 's/^listening http //p' "$tmp/out$n" | head -n 1)
        [ -n "$addr" ] && break
        kill -0 "${pids[$n]}" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$addr" ] || { echo "clusterbench.sh: $1 did not start:" >&2; cat "$tmp/err$n" >&2; exit 1; }
    addrs=${addrs:+$addrs,}$addr
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=redis://127.0.0.1:$port
gocd=("$build/server/gocd" "${one_address[@]}" --http 127.0.0.1:0 --tcp off --rate 0 --log-level error)
case $server in
    gocd | node)
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$tmp" --daemonize no --logfile "$tmp/redis.log" &
        pids+=($!)
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.05
        done
        for i in 0 1; do
            if [ "$server" = gocd ]; then
                start "${gocd[@]}" --redis "$url" --node "bench-$i"
            else
                start node "$root/tests/bench/node/server.js" 127.0.0.1:0 "$url"
            fi
        done ;;
    gocd1) start "${gocd[@]}" --db :memory:; addrs=$addrs,$addrs ;;
    node1) start node "$root/tests/bench/node/server.js" 127.0.0.1:0; addrs=$addrs,$addrs ;;
    *) echo "clusterbench.sh: unknown server $server" >&2; exit 2 ;;
esac

"$out" -name "$name" -addrs "$addrs" -mode "$mode" "$@"
