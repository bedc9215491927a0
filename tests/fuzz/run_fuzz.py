#!/usr/bin/env python3
"""Runs one libFuzzer target for a while and reports it as one TAP case.

The target mutates inputs starting from its seed corpus (read only); new
inputs go to --corpus (kept, for scripts/fuzz) or to a temporary folder that
is removed afterwards (for the meson test), so the repository is never
written. Any crash, leak, sanitizer report, timeout or out-of-memory fails
the case; libFuzzer's artifact (the input that did it) is kept under
--artifacts and named in the report, with the end of the fuzzer's log.

Usage: run_fuzz.py --seeds DIR --artifacts DIR [--corpus DIR] [--time S]
                   [--seed N] TARGET_EXE
Exit status: 0 when the target ran clean, 1 otherwise.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", required=True, help="seed corpus (only read)")
    ap.add_argument("--artifacts", required=True, help="where crashing inputs are kept")
    ap.add_argument("--corpus", help="corpus that persists (default: a temporary one)")
    ap.add_argument("--time", type=int, default=10, help="seconds to fuzz (default 10)")
    ap.add_argument("--seed", type=int, help="libFuzzer's random seed (default: random)")
    ap.add_argument("exe")
    args = ap.parse_args()

    name = os.path.basename(args.exe)
    artifacts = os.path.abspath(args.artifacts)
    os.makedirs(artifacts, exist_ok=True)
    before = set(os.listdir(artifacts))
    tmp = tempfile.mkdtemp(prefix=name + "-")
    corpus = os.path.abspath(args.corpus) if args.corpus else os.path.join(tmp, "corpus")
    os.makedirs(corpus, exist_ok=True)
    cmd = [os.path.abspath(args.exe),
           "-max_total_time=%d" % args.time,
           "-timeout=10",             # one input taking longer is a failure
           "-rss_limit_mb=2048",
           "-print_final_stats=1",
           "-artifact_prefix=" + artifacts + "/"]
    if args.seed is not None:
        cmd.append("-seed=%d" % args.seed)
    cmd += [corpus, os.path.abspath(args.seeds)]  # new inputs go to the first only
    log_path = os.path.join(tmp, "log")
    try:
        with open(log_path, "wb") as log:
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                                 timeout=args.time * 3 + 120)
    except subprocess.TimeoutExpired:
        rc = "hung"
    with open(log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    shutil.rmtree(tmp, ignore_errors=True)

    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    speed = re.search(r"stat::average_exec_per_sec:\s*(\d+)", text)
    new = sorted(set(os.listdir(artifacts)) - before)
    print("1..1")
    if rc == 0 and runs and not new:
        print("ok 1 - %s: %s runs in %d s (%s/s), no crash"
              % (name, runs.group(1), args.time, speed.group(1) if speed else "?"))
        return 0
    print("not ok 1 - %s: libFuzzer exited %s%s" % (
        name, rc, ", artifact " + " ".join(os.path.join(artifacts, a) for a in new) if new else ""))
    for line in text.splitlines()[-80:]:
        print("# " + line)
    if new:
        print("# reproduce: %s %s" % (args.exe, os.path.join(artifacts, new[0])))
    return 1


if __name__ == "__main__":
    sys.exit(main())
