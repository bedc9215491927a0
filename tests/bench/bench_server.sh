# tests/bench/bench_server.sh: what netbench.sh and web/wsbench.sh share,
# sourced by both (after `set -eu`).
#
# Sourcing it raises the descriptor limit to the hard limit, makes a
# temporary directory $tmp and arranges for it to be removed, and for the
# server (if one was started) to get SIGTERM and, 5 s later, SIGKILL, when
# the script exits.
#
#   bench_server_start KIND WHO CMD [ARGS...]
#       starts CMD (stdout to $tmp/out, stderr to $tmp/err) and waits up to
#       10 s for its "listening KIND ADDR" line; sets pid and addr. If the
#       line does not come, prints "WHO did not start:" and the server's
#       stderr, and exits 1.
#   cpu_ticks PID
#       prints the user + system CPU time of PID in ticks of 1/100 s.

ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
pid=
addr=

bench_server_cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap bench_server_cleanup EXIT

# cpu_ticks PID: user + system time of process PID in clock ticks (1/100 s).
cpu_ticks() {
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

bench_server_start() {
    local kind=$1 who=$2
    shift 2
    : >"$tmp/out" # exists before the server opens it, for the loop below
    "$@" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    addr=
    for _ in $(seq 200); do
        addr=$(sed -n "s/^listening $kind //p" "$tmp/out" | head -n 1)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        echo "$who did not start:" >&2
        cat "$tmp/err" >&2
        exit 1
    fi
}
