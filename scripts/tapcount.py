#!/usr/bin/env python3
"""Counts test cases over meson test logs: every TAP "ok"/"not ok" line of a
test program counts as one case; a program that printed no TAP line counts
as one case by its result, and a program that failed (crash, timeout)
without a "not ok" line adds one failure. Prints per-build lines, the
failures by name, and last "N passed, M failed"."""
import json, os, re, sys

def main():
    args = sys.argv[1:]
    failed_builds = 0
    if args and args[0] == "--failed-builds":
        failed_builds = int(args[1])
        args = args[2:]
    total_ok = total_bad = 0
    bad_names = []
    for d in args:
        base = "testlog"
        if ":" in d: # builddir:logbase, a second run in one build
            d, base = d.split(":", 1)
        path = os.path.join(d, "meson-logs", base + ".json")
        label = d if base == "testlog" else f"{d} ({base})"
        ok = bad = 0
        if not os.path.exists(path):
            bad += 1
            bad_names.append(f"{label}: no test log")
        else:
            for line in open(path):
                t = json.loads(line)
                out = t.get("stdout") or ""
                good = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
                tok = len(re.findall(r"^ok \d+", out, re.M))
                tbad = re.findall(r"^not ok \d+ - (.*)$", out, re.M)
                if tok == 0 and not tbad:
                    if good:
                        ok += 1
                    else:
                        bad += 1
                        bad_names.append(f"{label}: {t['name']} ({t.get('result')})")
                    continue
                ok += tok
                bad += len(tbad)
                bad_names += [f"{label}: {t['name']}: {n}" for n in tbad]
                if not good and not tbad:
                    bad += 1
                    bad_names.append(f"{label}: {t['name']} ({t.get('result')})")
        print(f"{label}: {ok} passed, {bad} failed")
        total_ok += ok
        total_bad += bad
    for n in bad_names:
        print("FAILED", n)
    total_bad += failed_builds
    if failed_builds:
        print(f"{failed_builds} build(s) failed to compile")
    print(f"{total_ok} passed, {total_bad} failed")
    return 0 if total_bad == 0 else 1

sys.exit(main())
