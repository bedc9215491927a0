#!/usr/bin/env python3
"""embed.py SCRIPT OUT: writes OUT, a C header defining GOC__GDB_SCRIPT_ASM,
an assembler statement that puts SCRIPT into the object's
.debug_gdb_scripts section as an inline Python script.

gdb reads that section from every program and shared library it loads and
runs the scripts it holds, once it trusts the file's path (its auto-load
safe-path). An entry is one byte of kind (4: Python text), the script's
name on the first line, the text, and a NUL. The section is mergeable
strings ("MS"), so the linker keeps one copy however many objects hold it.
The bytes are written as .byte lists: no quoting to get wrong.
"""
import os
import sys

script, out = sys.argv[1], sys.argv[2]
text = open(script, 'rb').read()
if b'\0' in text:
    sys.exit('embed.py: %s holds a NUL byte' % script)
entry = bytes([4]) + os.path.basename(script).encode() + b'\n' + text + b'\0'

lines = [
    '/* Generated from runtime/gdb/%s by runtime/gdb/embed.py: do not edit. */'
    % os.path.basename(script),
    '#define GOC__GDB_SCRIPT_ASM \\',
    '    ".pushsection .debug_gdb_scripts, \\"MS\\", @progbits, 1\\n" \\',
]
for i in range(0, len(entry), 32):
    lines.append('    ".byte %s\\n" \\' % ','.join(str(b) for b in entry[i:i + 32]))
lines.append('    ".popsection\\n"')
with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')
