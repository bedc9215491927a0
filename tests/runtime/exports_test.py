#!/usr/bin/env python3
"""The shared libgoc exports exactly the API: every function and datum the
public headers declare with GOC_API, and nothing else (the runtime is built
with -fvisibility=hidden). TAP output.

usage: exports_test.py LIBGOC_SO INCLUDE_DIR
"""
import glob
import os
import re
import subprocess
import sys

so, incdir = sys.argv[1], sys.argv[2]

declared = set()
for h in sorted(glob.glob(os.path.join(incdir, 'goc', '*.h'))):
    text = open(h).read()
    # a GOC_API declaration runs up to its ';' (it may span lines)
    for m in re.finditer(r'\bGOC_API\b([^;]*);', text):
        decl = re.sub(r'\s+', ' ', m.group(1))
        name = re.search(r'(\w+)\s*\(', decl) or re.search(r'(\w+)\s*$', decl)
        declared.add(name.group(1))

out = subprocess.run(['nm', '-D', '--defined-only', so], capture_output=True, text=True,
                     check=True).stdout
exported = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in 'TDRBVWiu':
        exported.add(parts[2])
# hidden symbols the linker lists in .dynsym anyway (the __start_/__stop_
# bounds of a section, runtime/core/stw.c) are not exported: nothing binds them
dyn = subprocess.run(['readelf', '-W', '--dyn-syms', so], capture_output=True, text=True,
                     check=True).stdout
for line in dyn.splitlines():
    parts = line.split()
    if len(parts) >= 8 and parts[5] in ('HIDDEN', 'INTERNAL'):
        exported.discard(parts[7])
# the linker's and the toolchain's own, present in any shared object
exported -= {'_init', '_fini', '_edata', '_end', '__bss_start'}
exported = {s for s in exported if not s.startswith(('__asan', '__ubsan', '__tsan', '__sanitizer',
                                                     '__lsan', '___interceptor'))}

print('1..3')
ok = len(declared) > 50
print(('ok' if ok else 'not ok') + ' 1 - the headers declare the API with GOC_API (%d names)'
      % len(declared))
extra = sorted(exported - declared)
print(('ok' if not extra else 'not ok') + ' 2 - nothing but the API is exported')
for s in extra:
    print('#   exported but not declared: ' + s)
missing = sorted(declared - exported)
print(('ok' if not missing else 'not ok') + ' 3 - every declared name is exported')
for s in missing:
    print('#   declared but not exported: ' + s)
sys.exit(0 if ok and not extra and not missing else 1)
