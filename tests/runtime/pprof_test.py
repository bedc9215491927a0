#!/usr/bin/env python3
"""pprof_test.py: the runtime's profiles read by `go tool pprof` (goc/pprof.h).

usage: pprof_test.py PPROF_TEST GO

Runs each child_* case of pprof_test (PPROF_TEST) with PPROF_OUT set to a
temporary file, then reads the profile with `GO tool pprof -raw` (every
sample, location and mapping: a file it cannot parse fails it) and -top,
and checks what it must hold:
  - cpu: the hog goroutine's function is on the stack of most samples,
    and they carry its label role=hog;
  - goroutine: the parked functions, 3 receivers counted on one stack
    with their label;
  - allocs / heap: alloc_loop holds most of the sampled allocation space
    (the sampler's side of issue 19);
  - mutex / block: contend_mutex's unlocks, and block_on_chan's receive.
Without GO (golang-go not installed) every case fails saying so.
"""
import os
import re
import subprocess
import sys
import tempfile

BIN = sys.argv[1]
GO = sys.argv[2] if len(sys.argv) > 2 else ""
TMP = tempfile.mkdtemp(prefix="pprof-test-")
ENV = dict(os.environ, HOME=os.environ.get("HOME", TMP), PPROF_TMPDIR=TMP)
results = []


def run_child(case, name, out, extra=None):
    env = dict(ENV, PPROF_OUT=out, PPROF_NAME=name)
    env.update(extra or {})
    p = subprocess.run([BIN, case], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (case, p.returncode,
                                                     p.stdout.decode(errors="replace")))


def pprof(*args):
    if not GO:
        raise AssertionError("go not found: install golang-go (scripts/test does)")
    p = subprocess.run([GO, "tool", "pprof"] + list(args), env=ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise AssertionError("go tool pprof %s: exit %d: %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p.stdout.decode(errors="replace")


def top_rows(text):
    """-top's rows: (flat, flat%, cum%, name), in its order."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*([\d.]+\w*)\s+([\d.]+)%\s+[\d.]+%\s+[\d.]+\w*\s+([\d.]+)%\s+(.+)$",
                     line)
        if m:
            rows.append((m.group(1), float(m.group(2)), float(m.group(3)),
                         m.group(4).strip()))
    return rows


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def case(fn):
    results.append(fn)
    return fn


@case
def cpu_hog_dominates():
    out = os.path.join(TMP, "cpu.pb.gz")
    run_child("child_cpu", "cpu", out)
    raw = pprof("-raw", out)
    check("samples/count cpu/nanoseconds" in raw, "sample types: %s" % raw[:300])
    # on the stack of most samples (its own code, or under ThreadSanitizer
    # the instrumentation it calls)
    top = pprof("-top", "-cum", "-nodecount=10", out)
    check(any(r[3] == "cpu_hog" and r[2] >= 50 for r in top_rows(top)),
          "cpu_hog is not in most samples:\n" + top)
    tagged = pprof("-top", "-cum", "-tagfocus=role=hog", out)
    check(any(r[3] == "cpu_hog" and r[2] >= 90 for r in top_rows(tagged)),
          "the samples labelled role=hog are not cpu_hog's:\n" + tagged)


@case
def goroutine_shows_parked():
    out = os.path.join(TMP, "goroutine.pb.gz")
    run_child("child_goroutine", "goroutine", out)
    raw = pprof("-raw", out)
    check("goroutine/count" in raw, "sample type: %s" % raw[:300])
    top = pprof("-top", "-nodecount=200", out)
    names = [r[3] for r in top_rows(top)]
    for fn in ("parked_recv", "parked_mutex", "parked_sleep", "goc_chan_recv", "goc_sleep"):
        check(fn in names, "%s missing:\n%s" % (fn, top))
    # the three receivers, with their label, counted per distinct stack
    counts = [int(c) for c in re.findall(r"^\s+(\d+): [\d ]+\n\s+role:\[receiver\]", raw, re.M)]
    check(sum(counts) == 3 and max(counts) >= 2,
          "want 3 goroutines labelled role=receiver, some on one stack: %r\n%s" % (counts, raw))


@case
def allocs_dominated_by_alloc_loop():
    out = os.path.join(TMP, "allocs.pb.gz")
    run_child("child_allocs", "allocs", out)
    raw = pprof("-raw", out)
    check("alloc_space/bytes" in raw and "inuse_space/bytes" in raw, raw[:400])
    top = pprof("-top", "-sample_index=alloc_space", out)
    rows = top_rows(top)
    check(rows and any(r[3] == "alloc_loop" and r[2] >= 50 for r in rows),
          "alloc_loop does not hold most of alloc_space:\n" + top)


@case
def heap_profile_parses():
    out = os.path.join(TMP, "heap.pb.gz")
    run_child("child_allocs", "heap", out)
    raw = pprof("-raw", out)
    check("inuse_space/bytes" in raw, raw[:400])
    check(re.search(r"^PeriodType: space bytes", raw, re.M), raw[:400])


@case
def mutex_shows_contention():
    out = os.path.join(TMP, "mutex.pb.gz")
    run_child("child_contention", "mutex", out)
    raw = pprof("-raw", out)
    check("contentions/count delay/nanoseconds" in raw, raw[:400])
    top = pprof("-top", "-nodecount=200", out)
    names = [r[3] for r in top_rows(top)]
    check("contend_mutex" in names, "contend_mutex missing:\n" + top)


@case
def block_shows_channel_waits():
    out = os.path.join(TMP, "block.pb.gz")
    run_child("child_contention", "block", out)
    top = pprof("-top", "-nodecount=200", out)
    names = [r[3] for r in top_rows(top)]
    check("block_on_chan" in names, "block_on_chan missing:\n" + top)


print("1..%d" % len(results))
failed = 0
for i, fn in enumerate(results, 1):
    try:
        fn()
        print("ok %d - %s" % (i, fn.__name__))
    except Exception as e:  # noqa: BLE001 - any failure is the case's
        failed += 1
        print("not ok %d - %s" % (i, fn.__name__))
        for line in str(e).splitlines()[:60]:
            print("# " + line)
sys.exit(1 if failed else 0)
