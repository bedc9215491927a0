#!/usr/bin/env python3
"""The gdb extension (runtime/gdb/goc-gdb.py) on gdb_target, a program whose
goroutines are parked in a channel receive, a select, a Mutex, a sleep, a
network read and a WaitGroup, with one running: gdb in batch mode attaches
to it, then reads a core file of it, and each time `info goroutines` must
list each goroutine with its state and wait reason, the runtime call it is
blocked in and the program's function that called it, and `goroutine N bt`
must show every frame named, from the runtime's park through that call and
the program's function down to the stack's base. The extension is never
sourced: gdb loads it from the program's .debug_gdb_scripts section.
TAP output.

The core file is the kernel's (the program is killed with SIGABRT, with a
core size limit raised, in a directory of its own): gdb's own
generate-core-file stops copying a mapping at its first unreadable page,
and on Linux 6.13 and later the guard pages of goroutine stacks are such
pages inside the stacks' mapping (MADV_GUARD_INSTALL), so it would lose
them. Where the kernel writes no core file there (a core_pattern piping to
a collector), generate-core-file is used instead.

usage: gdb_test.py GDB_TARGET GOC_GDB_PY
"""
import glob
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time

target, script = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])

# Each goroutine of gdb_target: state, wait reason, a word of the runtime
# call it is blocked in, the program's function that called it, the
# function it started in.
EXPECT = {
    'main': ('waiting', 'sync.WaitGroup.Wait', 'waitgroup_wait', 'target_main', 'target_main'),
    'recv': ('waiting', 'chan receive', 'chan_recv', 'park_in_recv', 'park_in_recv'),
    'select': ('waiting', 'select', 'select', 'park_in_select', 'park_in_select'),
    'mutex': ('waiting', 'sync.Mutex.Lock', 'mutex_lock', 'park_in_mutex', 'park_in_mutex'),
    'sleep': ('waiting', 'sleep', 'sleep', 'park_in_sleep', 'park_in_sleep'),
    'read': ('waiting', 'IO wait read', 'conn_read', 'park_in_read', 'park_in_read'),
    'spin': ('running', '-', None, 'spin_forever', 'spin_forever'),
}

results = []


def check(ok, what, detail=''):
    results.append((bool(ok), what, detail))


def gdb(args, extra_cmds, timeout=300):
    """Runs gdb in batch mode; returns {marker: output} per command."""
    cmd = ['gdb', '-nx', '-batch', '-iex', 'set debuginfod enabled off',
           '-iex', 'set auto-load safe-path ' + os.path.dirname(target)]
    for name, c in extra_cmds:
        cmd += ['-ex', 'echo @@@ %s\\n' % name, '-ex', c]
    cmd += args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return {'': '', '*': 'gdb timed out after %d s: %s' % (timeout, e.stdout)}
    out = {'': ''}
    cur = ''
    for line in (p.stdout + '\n' + p.stderr).splitlines():
        m = re.match(r'^@@@ (.*)$', line)
        if m:
            cur = m.group(1)
            out[cur] = ''
        else:
            out[cur] += line + '\n'
    # gdb prints errors on stderr, after all of stdout when both are pipes:
    # keep the whole text too, for the checks that look for messages
    out['*'] = p.stdout + p.stderr
    return out


def commands(ids):
    cmds = [('info', 'info goroutines'), ('scripts', 'info auto-load python-scripts'),
            ('all', 'goroutine all bt')]
    for name in EXPECT:
        cmds.append(('bt ' + name, 'goroutine %d bt' % ids[name]))
    cmds.append(('missing', 'goroutine 999999 bt'))
    return cmds


FRAME = re.compile(r'^#(\d+)\s+(0x[0-9a-f]+ in )?([A-Za-z_][\w.]*) \(.*\)( at \S+:\d+| from \S+)?$')


def frames_of(text):
    """The function names of a backtrace's frames, and the lines that do not
    read as a named frame."""
    names, bad = [], []
    for line in text.splitlines():
        if not line.startswith('#'):
            continue
        m = FRAME.match(line)
        if m:
            names.append(m.group(3))
        else:
            bad.append(line)
    return names, bad


def check_session(where, out, ids):
    """The checks of one gdb session (on the live process or the core)."""
    info = out.get('info', '')
    check('Undefined' not in info and 'Id' in info,
          '%s: info goroutines exists without `source` (auto-loaded)' % where, info + out['*'])
    check(re.search(r'^Yes\s+goc-gdb\.py', out.get('scripts', ''), re.M),
          '%s: gdb loaded goc-gdb.py from the program\'s .debug_gdb_scripts' % where,
          out.get('scripts', ''))
    rows = {}
    for line in info.splitlines():
        cells = re.split(r'\s{2,}', line.strip())
        if cells and cells[0] == '*':
            cells = cells[1:]
        if cells and cells[0].isdigit():
            rows[int(cells[0])] = cells
    check(sorted(rows) == sorted(ids.values()),
          '%s: info goroutines lists exactly the program\'s goroutines %s' %
          (where, sorted(ids.values())), info)
    for name, (state, reason, blocked, caller, start) in EXPECT.items():
        r = rows.get(ids[name])
        if r is None or len(r) != 9:
            check(False, '%s: goroutine %s has a row of 9 columns' % (where, name), info)
            continue
        _, st, rs, m, p, thread, blk, wh, started = r
        ok = st == state and rs == reason and wh.startswith(caller + ' at gdb_target.c:') \
            and started == start
        if blocked:
            ok = ok and blk.startswith('goc_') and blocked in blk and m == '-' and p == '-'
        else:  # running: its M, P and thread
            ok = ok and re.match(r'^M\d+$', m) and re.match(r'^P\d+$', p) and thread.isdigit()
        check(ok, '%s: info goroutines: %s is %s (%s), in %s, called from %s' %
              (where, name, state, reason, blocked or 'M, P and thread', caller), info)
    for name, (state, reason, blocked, caller, start) in EXPECT.items():
        text = out.get('bt ' + name, '')
        names, bad = frames_of(text)
        head = 'goroutine %d [%s]:' % (ids[name], reason if state == 'waiting' else state)
        ok = text.startswith(head) and not bad and '??' not in names and names
        # the stack's base: clang's assembler describes goc__ctx_start with a
        # DWARF label, whose name gdb shows Ada-decoded ("__" as "."); with
        # meson's -Dcontext=ucontext it is ctx_tramp
        ok = ok and names[-1] in ('goc__ctx_start', 'goc.ctx_start', 'ctx_tramp') and \
            caller in names
        if blocked:  # the runtime parked it, inside the call the program made
            api = [i for i, n in enumerate(names) if n.startswith('goc_') and blocked in n]
            ok = ok and names[0] == 'goc__ctx_switch' and 'goc__park' in names and api and \
                api[-1] < names.index(caller) and names.index('goc__park') < api[0]
        check(ok, '%s: goroutine N bt: %s\'s frames all named, %s down to goc__ctx_start' %
              (where, name, 'goc__park < ' + blocked + ' < ' + caller if blocked else caller),
              text)
    all_bt = out.get('all', '')
    heads = re.findall(r'^goroutine (\d+) \[', all_bt, re.M)
    names, bad = frames_of(all_bt)
    check(sorted(int(h) for h in heads) == sorted(ids.values()) and not bad and
          all(EXPECT[n][3] in names for n in EXPECT),
          '%s: goroutine all bt shows every goroutine, every frame named' % where, all_bt)
    check('no goroutine 999999' in out['*'],
          '%s: goroutine 999999 bt says there is no such goroutine' % where, out['*'])


def start_target(tmp):
    def limits():
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    err = open(os.path.join(tmp, 'stderr'), 'w')
    env = dict(os.environ)
    # the sanitizers turn core files off unless asked (their shadow memory
    # is left out of them by MADV_DONTDUMP either way)
    for var in ('ASAN_OPTIONS', 'TSAN_OPTIONS'):
        env[var] = (env.get(var, '') + ':disable_coredump=0').lstrip(':')
    p = subprocess.Popen([target], stdout=subprocess.PIPE, stderr=err, cwd=tmp,
                         preexec_fn=limits, env=env)
    deadline = time.monotonic() + 120
    line = b''
    while time.monotonic() < deadline and not line.endswith(b'\n'):
        r, _, _ = select.select([p.stdout], [], [], 1)
        if r:
            c = os.read(p.stdout.fileno(), 256)
            if not c:
                break
            line += c
    line = line.decode(errors='replace')
    m = re.match(r'^ready pid=(\d+)((?: \w+=\d+)+)$', line.strip())
    if not m:
        p.kill()
        p.wait()
        raise SystemExit('Bail out! gdb_target never got ready: %r %s' %
                         (line, open(os.path.join(tmp, 'stderr')).read()))
    ids = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2))}
    return p, ids


def kernel_core(p, tmp):
    """Kills p with SIGABRT; the kernel's core file, or None."""
    p.send_signal(signal.SIGABRT)
    p.wait(timeout=120)
    cores = [c for c in glob.glob(os.path.join(tmp, 'core*')) if os.path.getsize(c) > 0]
    return cores[0] if cores else None


def main():
    with tempfile.TemporaryDirectory(prefix='goc-gdb-') as tmp:
        p, ids = start_target(tmp)
        try:
            live = gdb(['-p', str(p.pid)], commands(ids))
            check_session('live', live, ids)
            core = kernel_core(p, tmp)
            how = 'kernel'
            if core is None:
                p, ids = start_target(tmp)
                core = os.path.join(tmp, 'gcore')
                gdb(['-p', str(p.pid)], [('gcore', 'generate-core-file ' + core)], timeout=120)
                how = 'generate-core-file'
            check(core and os.path.exists(core),
                  'a core file of gdb_target (%s)' % how, open(os.path.join(tmp, 'stderr')).read())
            if core and os.path.exists(core):
                check_session('core', gdb([target, core], commands(ids)), ids)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    # a program without the runtime: a clear message, no Python traceback
    none = gdb(['/bin/true'], [('source', 'source ' + script), ('info', 'info goroutines')])
    check('goc_g' in none['*'] and 'Traceback' not in none['*'] and
          'Python Exception' not in none['*'],
          'without the runtime\'s debug info, info goroutines says so', none['*'])

    print('1..%d' % len(results))
    for i, (ok, what, detail) in enumerate(results, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, what))
        if not ok:
            for line in detail.splitlines()[-60:]:
                print('#   ' + line)
    return 0 if all(ok for ok, _, _ in results) else 1


sys.exit(main())
