#!/usr/bin/env bash
# tests/bench/netbench.sh SERVER NAME [LOADGEN ARGS...]: one side of a
# network benchmark (issue 5), for a `sh:` line of benchmarks.txt.
#
# Starts SERVER on 127.0.0.1 with a free port, waits for its
# "listening tcp ADDR" line, runs tests/bench/loadgen against ADDR (with
# --name NAME --addr ADDR --pid PID and the arguments given), stops the
# server, and prints loadgen's "RESULT NAME <value> <unit>" line.
#
# SERVER is one of:
#   gocd        our server (build-bench/server/gocd), JSON-RPC
#   gocd-prof   the same with heap sampling at Go's rate (512 KiB) and a CPU
#               profile (GET /debug/pprof/profile?seconds=5) over the whole
#               run; its size goes to stderr (issue 19)
#   gocd-noprof the same server with heap sampling off and no CPU profile
#   goc         our raw framed echo server (tests/bench/goc_echo_server)
#   go          the Go peer, raw echo (build-bench/go/framed_echo_server)
#   go-jsonrpc  the Go peer, JSON-RPC
#   libuv       the libuv peer, raw echo (tests/bench/uv_echo_server)
#   goc-tls     goc_echo_server --tls (issue 7)
#   go-tls      the Go peer, raw echo over crypto/tls (-cert/-key)
#
# The TLS servers get a fresh ECDSA P-256 certificate for 127.0.0.1 in a
# temporary directory (scripts/gen-cert, or tests/bench/go/gencert where
# that script is missing), and the load comes from build-bench/go/tlsload
# (crypto/tls, one P; -ca checks the certificate) instead of loadgen, with
# the arguments given (e.g. -handshake -workers 16).
#
# The descriptor limit is raised to the hard limit (idle_conn_memory opens
# 10,000 connections, one descriptor each on both sides); bench_server.sh,
# shared with web/wsbench.sh, does that and starts and stops the server.
# Nothing is pinned: the machine has 2 cores, loadgen uses one thread, the
# server the rest.
# BENCH_BUILD overrides the build directory (default build-bench).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BENCH_BUILD:-$root/build-bench}
[ $# -ge 2 ] || { echo "usage: netbench.sh SERVER NAME [LOADGEN ARGS...]" >&2; exit 2; }
server=$1 name=$2
shift 2
# Every benchmark client connects from 127.0.0.1: the per-address limits
# (--conn-rate, --max-conns-per-ip: doc/security.md) would refuse the
# 512- and 1000-client runs, and the peers have none.
one_address=(--conn-rate 0 --max-conns-per-ip 1000000)

. "$root/tests/bench/bench_server.sh"

tls=
case $server in
    *-tls)
        tls=1
        if [ -x "$root/scripts/gen-cert" ]; then
            "$root/scripts/gen-cert" "$tmp" >&2
        else
            "$build/go/gencert" "$tmp"
        fi ;;
esac

case $server in
    gocd) cmd=("$build/server/gocd" "${one_address[@]}" --tcp 127.0.0.1:0 --http off --db :memory: --log-level error) ;;
    gocd-prof) cmd=("$build/server/gocd" "${one_address[@]}" --tcp 127.0.0.1:0 --http 127.0.0.1:0 --db :memory:
                    --log-level error --mem-profile-rate 524288) ;;
    gocd-noprof) cmd=("$build/server/gocd" "${one_address[@]}" --tcp 127.0.0.1:0 --http 127.0.0.1:0 --db :memory:
                      --log-level error --mem-profile-rate 0) ;;
    goc) cmd=("$build/tests/bench/goc_echo_server" 127.0.0.1:0) ;;
    go) cmd=("$build/go/framed_echo_server" -mode raw 127.0.0.1:0) ;;
    go-jsonrpc) cmd=("$build/go/framed_echo_server" -mode jsonrpc 127.0.0.1:0) ;;
    libuv) cmd=("$build/tests/bench/uv_echo_server" 127.0.0.1:0) ;;
    goc-tls) cmd=("$build/tests/bench/goc_echo_server" --tls "$tmp/cert.pem" "$tmp/key.pem" 127.0.0.1:0) ;;
    go-tls) cmd=("$build/go/framed_echo_server" -mode raw -cert "$tmp/cert.pem" -key "$tmp/key.pem" 127.0.0.1:0) ;;
    *) echo "netbench.sh: unknown server $server" >&2; exit 2 ;;
esac

bench_server_start tcp "netbench.sh: $server" "${cmd[@]}"

profiler=
if [ "$server" = gocd-prof ]; then
    http=$(sed -n 's/^listening http //p' "$tmp/out" | head -n 1)
    curl -s -o "$tmp/cpu.pb.gz" "http://$http/debug/pprof/profile?seconds=5" &
    profiler=$!
fi

if [ -n "$tls" ]; then
    "$build/go/tlsload" -name "$name" -addr "$addr" -pid "$pid" -ca "$tmp/cert.pem" "$@"
else
    "$build/tests/bench/loadgen" --name "$name" --addr "$addr" --pid "$pid" "$@"
fi

if [ -n "$profiler" ]; then
    wait "$profiler"
    echo "# CPU profile: $(stat -c %s "$tmp/cpu.pb.gz") bytes" >&2
fi
