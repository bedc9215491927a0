#!/usr/bin/env python3
"""Runs the benchmarks of tests/bench/benchmarks.txt: ours and the peer,
alternately, BENCH_RUNS times each; prints BENCH lines with medians.

A RESULT line may end with cpu_us=X (the network benchmarks: the server's
CPU microseconds per unit of work); the BENCH line then adds
cpu_us=OURS/PEER (medians) and cpu_speedup=PEER/OURS (> 1: ours spends
less)."""
import os, shlex, statistics, subprocess, sys

def run(cmd, env, name, timeout):
    e = dict(os.environ)
    e.update(env)
    try:
        out = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return None
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == "RESULT" and f[1] == name:
            cpu = [float(x[7:]) for x in f[4:] if x.startswith("cpu_us=")]
            return float(f[2]), f[3], cpu[0] if cpu else None
    return None

def resolve(root, spec):
    """'go:DIR args' -> the Go peer; 'bin:PATH args' -> a path under the
    build; otherwise a program under build-bench/tests/bench."""
    words = shlex.split(spec)
    w0 = words[0]
    if w0.startswith("go:"):
        return [os.path.join(root, "build-bench/go", w0[3:])] + words[1:]
    if w0.startswith("bin:"):
        return [os.path.join(root, "build-bench", w0[4:])] + words[1:]
    if w0.startswith("sh:"):
        return ["bash", "-c", spec[3:]]
    return [os.path.join(root, "build-bench/tests/bench", w0)] + words[1:]

def main():
    root = sys.argv[1]
    only = set(sys.argv[2:])
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    specs = []
    for line in open(os.path.join(root, "tests/bench/benchmarks.txt")):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = [x.strip() for x in line.split("|")]
        name, result, kind, env, ours, peer, peercmd = f[:7]
        timeout = float(f[7]) if len(f) > 7 and f[7] else 600
        if only and name not in only and result not in only:
            continue
        specs.append((name, result, kind, env, ours, peer, peercmd, timeout))
    for name, result, kind, env, ours, peer, peercmd, timeout in specs:
        envd = dict(kv.split("=", 1) for kv in env.split()) if env and env != "-" else {}
        a, b, unit = [], [], ""
        ca, cb = [], []  # server CPU per unit, when the runs report it
        for _ in range(runs):
            r = run(resolve(root, ours), envd, result, timeout)
            if r:
                a.append(r[0]); unit = r[1]
                if r[2] is not None: ca.append(r[2])
            r = run(resolve(root, peercmd), envd, result, timeout)
            if r:
                b.append(r[0]); unit = unit or r[1]
                if r[2] is not None: cb.append(r[2])
        if not a or not b:
            print(f"BENCH {name} ours={'%.3f' % statistics.median(a) if a else 'failed'} "
                  f"{peer}={'%.3f' % statistics.median(b) if b else 'failed'} unit={unit} speedup=n/a",
                  flush=True)
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        if kind == "throughput":
            sp = ma / mb if mb else float("inf")
        else:
            sp = mb / ma if ma else float("inf")
        cpu = ""
        if ca and cb:
            mca, mcb = statistics.median(ca), statistics.median(cb)
            cpu = f" cpu_us={mca:.3f}/{mcb:.3f} cpu_speedup={mcb / mca if mca else float('inf'):.2f}"
        print(f"BENCH {name} ours={ma:.3f} {peer}={mb:.3f} unit={unit} speedup={sp:.2f}{cpu}", flush=True)

main()
