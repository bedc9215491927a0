#!/usr/bin/env python3
"""In a ThreadSanitizer build, the code that runs while the world is stopped
(GOC_STW_FN: runtime/core/stw.c, the collector's mark) sits in the section
goc_stw_text and must not enter TSan's runtime: a stopped thread may hold
its locks. This reads every call and jump out of that section in libgoc.a
(objdump's relocations) and fails on any whose target is neither in the
section itself nor a plain system call (syscall, __errno_location) nor the
fatal-error path (goc__throw, goc_fatal). TAP output.

usage: stw_calls_test.py LIBGOC_A
"""
import re
import subprocess
import sys

lib = sys.argv[1]
out = subprocess.run(['objdump', '-dr', '--section=goc_stw_text', lib], capture_output=True,
                     text=True, check=True).stdout
defined, calls = set(), []
func, insn = None, ''
for line in out.splitlines():
    m = re.match(r'^[0-9a-f]+ <([^>]+)>:$', line)
    if m:
        func = m.group(1)
        defined.add(func)
        continue
    m = re.search(r'R_X86_64_\w+\s+(\S+?)(?:[-+]0x[0-9a-f]+)?$', line)
    if m and func and re.search(r'\s(call|jmp)', insn):
        calls.append((func, m.group(1))) # a call or a tail call; other relocations are data
    elif not m:
        insn = line
allowed = {'syscall', '__errno_location', 'goc__throw', 'goc_fatal'}
bad = sorted({(f, t) for f, t in calls if t not in defined and t not in allowed})
print('1..2')
print(('ok' if len(defined) > 20 else 'not ok') +
      ' 1 - the stopped-world code is in goc_stw_text (%d functions)' % len(defined))
print(('ok' if not bad else 'not ok') + ' 2 - none of it calls into TSan or what TSan intercepts')
for f, t in bad:
    print('#   %s calls %s' % (f, t))
sys.exit(0 if len(defined) > 20 and not bad else 1)
