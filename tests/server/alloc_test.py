#!/usr/bin/env python3
"""alloc_test.py: no object of the runtime, proto or the server calls
libc's allocator: each allocates through goc_malloc (doc/runtime.md,
"Memory"). Reads the undefined symbols of every object in the given
static libraries (nm -u) and fails on any reference to a libc function
that allocates memory for its caller. One exception: runtime/core/alloc.c,
whose libc calls are core's fallback when no allocator is linked. TAP.

usage: alloc_test.py LIBRARY.a...
"""
import re
import subprocess
import sys

# libc calls that hand the caller memory to free (or free it)
ALLOCATING = {"malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc",
              "posix_memalign", "memalign", "valloc", "pvalloc", "strdup", "strndup",
              "asprintf", "vasprintf", "open_memstream", "getline", "getdelim", "scandir",
              "tempnam", "get_current_dir_name", "canonicalize_file_name", "__strdup"}
ALLOWED = {"core_alloc.c.o"}  # core's libc fallback (runtime/core/alloc.c)

print("1..%d" % len(sys.argv[1:]))
failed = 0
for n, lib in enumerate(sys.argv[1:], 1):
    out = subprocess.run(["nm", "-u", "-A", lib], capture_output=True, text=True,
                         check=True).stdout
    bad = []
    objects = set()
    for line in out.splitlines():
        # "lib.a:member.o:                 U malloc"
        m = re.match(r"^(.*):([^:]+):\s+U (\S+)$", line)
        if not m:
            continue
        member, sym = m.group(2), m.group(3).split("@")[0]
        objects.add(member)
        if sym in ALLOCATING and member not in ALLOWED:
            bad.append("%s calls %s" % (member, sym))
    ok = not bad and objects
    failed += not ok
    print("%s %d - %s: nothing allocates with libc (%d objects)"
          % ("ok" if ok else "not ok", n, lib.rsplit("/", 1)[-1], len(objects)))
    for b in bad:
        print("#   " + b)
sys.exit(1 if failed else 0)
