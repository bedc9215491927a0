# goc-gdb.py: goroutines in gdb, as Go's runtime-gdb.py shows Go's.
#
# Commands:
#   info goroutines     every goroutine: id, state, wait reason, the runtime
#                       call it is blocked in and the program's frame that
#                       made it, the function it started in, and the M, P
#                       and gdb thread of one that runs
#   goroutine N bt      the backtrace of goroutine N, every frame named
#   goroutine all bt    the same for every goroutine
#
# How it finds them: every goroutine lives at the top of a stack, and every
# stack is in the runtime's stack registry (runtime/core/stack.c: slabs of
# equal stacks, each stack's record at its top naming its G), which this
# walks as the runtime's own goroutine dump does. It reads only memory and
# debug info, never registers or the process's code, so it works the same
# on a live process and on a core file.
#
# How a parked goroutine's frames are shown: its saved registers (goc__ctx,
# runtime/core/ctx.h) say where it resumes, with which stack and frame
# pointer. A core file's registers cannot be written, so instead of setting
# them this registers a frame unwinder that, while one goroutine is being
# shown, says that the innermost frame of the selected thread was called by
# the goroutine's resume point; gdb's own unwinders (DWARF call frame
# information) take it from there, inlined frames, arguments and source
# lines included. The extra innermost frame is left out when printing.
# A running goroutine's frames are its thread's.
#
# Loaded by gdb from the .debug_gdb_scripts section of every program linked
# with libgoc (runtime/core/traceback.c embeds this file), once gdb trusts
# the program's path (add-auto-load-safe-path); or by hand with `source`.
# Needs the runtime's debug info (meson's default buildtypes have -g) and
# gdb 11 or later. Loading it twice is harmless: the second load replaces
# the first's commands and unwinder.

import os

import gdb
import gdb.unwinder

# G states, numbered as Go's (runtime/core/runtime.h); read from the debug
# info when the enumerators are there, these otherwise.
_STATE_NUMBERS = {
    'GOC_GIDLE': 0,
    'GOC_GRUNNABLE': 1,
    'GOC_GRUNNING': 2,
    'GOC_GSYSCALL': 3,
    'GOC_GWAITING': 4,
    'GOC_GDEAD': 6,
}
_STATE_NAMES = {'GOC_GIDLE': 'idle', 'GOC_GRUNNABLE': 'runnable', 'GOC_GRUNNING': 'running',
                'GOC_GSYSCALL': 'syscall', 'GOC_GWAITING': 'waiting', 'GOC_GDEAD': 'dead'}


class _Error(gdb.GdbError):
    pass


# ---- the runtime's records -------------------------------------------------------


def _static(name, file_suffix):
    """The value of the static name of the runtime file ending in file_suffix."""
    for sym in gdb.lookup_static_symbols(name):
        if sym.symtab is not None and sym.symtab.filename.endswith(file_suffix):
            return sym.value()
    return None


class _Runtime:
    """The types and tables of the runtime of the current program, read
    afresh by each command (the program may have changed, or be another)."""

    def __init__(self):
        try:
            gdb.lookup_type('goc_g')
            self.stack_ptr = gdb.lookup_type('goc__stack').pointer()
            ctx_fields = [f.name for f in gdb.lookup_type('goc__ctx').strip_typedefs().fields()]
        except gdb.error:
            raise _Error('goc: the debug info has no goc_g type: the program is not linked '
                         'with libgoc, or libgoc was built without -g (meson\'s default '
                         'buildtypes have it; a release build needs -Ddebug=true)')
        if gdb.selected_inferior().pid == 0 and not gdb.selected_inferior().threads():
            raise _Error('goc: no process or core file')
        nslabs = _static('reg_n', 'core/stack.c')
        self.chunks = _static('reg_chunks', 'core/stack.c')
        chunk = _static('REG_CHUNK', 'core/stack.c')
        if nslabs is None or self.chunks is None or chunk is None:
            raise _Error('goc: the stack registry (runtime/core/stack.c) is not in the debug '
                         'info, or this program does not use libgoc')
        self.nslabs = int(nslabs)
        self.chunk = int(chunk)
        # where a context made by goc__ctx_init (ctx.c) that never ran resumes
        if 'pc' in ctx_fields:
            self.ctx_kind, self.start_pc = 'x86_64', _minsym('goc__ctx_start')
        elif 'uc' in ctx_fields and gdb.selected_inferior().architecture().name().startswith(
                'i386:x86-64'):
            self.ctx_kind, self.start_pc = 'ucontext', _minsym('ctx_tramp')
        else:
            self.ctx_kind, self.start_pc = None, None  # aarch64: not shown yet
        self.states = {}
        for name, number in _STATE_NUMBERS.items():
            sym = gdb.lookup_static_symbol(name)
            value = int(sym.value()) if sym is not None else number
            self.states[value] = _STATE_NAMES[name]

    def goroutines(self):
        """Every live goroutine (not dead, not idle, not an M's g0), by id."""
        out = []
        for i in range(self.nslabs):
            slab = self.chunks[i // self.chunk][i % self.chunk]
            if int(slab['live']) == 0:
                continue
            base, stride, n = int(slab['base']), int(slab['stride']), int(slab['n'])
            for j in range(n):
                # stack j's top is where stack j + 1's guard page begins
                # (stride = guard + usable); its record sits below the top,
                # aligned down to 64 bytes (carve in stack.c)
                top = base + (j + 1) * stride
                rec = (top - self.stack_ptr.target().sizeof) & ~63
                st = gdb.Value(rec).cast(self.stack_ptr).dereference()
                g = st['g']
                if int(g) == 0 or int(st['lo']) != top - int(slab['size']):
                    continue
                g = g.dereference()
                if self.state(g) in ('dead', 'idle') or int(g['id']) == 0:
                    continue
                out.append(g)
        out.sort(key=lambda g: int(g['id']))
        return out

    def find(self, goid):
        for g in self.goroutines():
            if int(g['id']) == goid:
                return g
        raise _Error('goc: no goroutine %d' % goid)

    def state(self, g):
        return self.states.get(int(g['status']), 'status %d' % int(g['status']))

    def resume_regs(self, g):
        """(pc, sp, fp) where a goroutine that is not running resumes; pc 0
        for one that never ran."""
        ctx = g['ctx']
        if self.ctx_kind == 'x86_64':
            pc, sp, fp = int(ctx['pc']), int(ctx['sp']), int(ctx['bp'])
        elif self.ctx_kind == 'ucontext':
            gregs = ctx['uc']['uc_mcontext']['gregs']
            # REG_RBP 10, REG_RSP 15, REG_RIP 16 (sys/ucontext.h)
            pc, sp, fp = int(gregs[16]), int(gregs[15]), int(gregs[10])
        else:
            raise _Error('goc: parked goroutines\' stacks are shown on x86-64 only')
        return (0, 0, 0) if pc == self.start_pc else (pc, sp, fp)

    def thread_of(self, g):
        """The gdb thread a running goroutine's M is, or None."""
        m = g['m']
        if int(m) == 0:
            return None
        tid = int(m['stw']['tid'])
        for t in gdb.selected_inferior().threads():
            if t.ptid[1] == tid:
                return t
        return None

    def start_function(self, g):
        """The function a goroutine started in: its fn, or the program's
        function behind the runtime's wrappers (main, WaitGroup.Go)."""
        fn = int(g['fn'])
        name = _pc_name(fn)
        arg = int(g['arg'])
        # the wrapped function is a field of the argument block's header
        wrapped = {'main_goroutine': 'main_args', 'wg_go_run': 'wg_go_hdr'}.get(name)
        if wrapped and arg:
            try:
                hdr = gdb.Value(arg).cast(gdb.lookup_type(wrapped).pointer()).dereference()
                return _pc_name(int(hdr['fn']))
            except gdb.error:
                pass
        return name


def _minsym(name):
    """The address of a function named name in the ELF symbols, or None."""
    try:
        v = gdb.parse_and_eval('(unsigned long)&\'%s\'' % name)
        return int(v)
    except gdb.error:
        return None


def _pc_name(pc):
    if pc == 0:
        return '?'
    block = None
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        pass
    while block is not None and block.function is None:
        block = block.superblock
    if block is not None:
        return block.function.name
    desc = gdb.execute('info symbol 0x%x' % pc, to_string=True).split()
    return desc[0] if desc and not desc[0].startswith('No') else '0x%x' % pc


# ---- showing a parked goroutine's frames ---------------------------------------------


class _FrameId:
    """A frame's id for an unwinder: its stack and code addresses, as
    gdb.Values."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _GoroutineUnwinder(gdb.unwinder.Unwinder):
    """While regs is set, the selected thread's innermost frame seems to be
    called from regs (pc, sp, fp): the goroutine's resume point."""

    def __init__(self):
        super().__init__('goc-goroutine')
        self.regs = None

    def __call__(self, pending):
        if self.regs is None or pending.level() != 0:
            return None
        pc, sp, fp = self.regs
        # The frame's id is below the goroutine's stack pointer, so that gdb
        # sees the goroutine's frames as outer to it, as callers are.
        void_ptr = gdb.lookup_type('void').pointer()
        info = pending.create_unwind_info(
            _FrameId(gdb.Value(sp - 16).cast(void_ptr), pending.read_register('pc')))
        info.add_saved_register('rip', gdb.Value(pc).cast(void_ptr))
        info.add_saved_register('rsp', gdb.Value(sp).cast(void_ptr))
        info.add_saved_register('rbp', gdb.Value(fp).cast(void_ptr))
        return info


_unwinder = _GoroutineUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


class _Frames:
    """with _Frames(rt, g) as frames: the goroutine's frames, innermost
    first (a generator of gdb.Frame), valid inside the block only."""

    def __init__(self, rt, g):
        self.rt, self.g = rt, g
        self.thread = gdb.selected_thread()
        self.frame = None

    def __enter__(self):
        try:
            self.frame = gdb.selected_frame()
        except gdb.error:
            pass
        state = self.rt.state(self.g)
        if state in ('running', 'syscall'):
            t = self.rt.thread_of(self.g)
            if t is None:
                return iter(())
            t.switch()
            return self._walk(gdb.newest_frame())
        pc, sp, fp = self.rt.resume_regs(self.g)
        if pc == 0:
            return iter(())
        _unwinder.regs = (pc, sp, fp)
        gdb.invalidate_cached_frames()
        return self._walk(gdb.newest_frame().older())

    def _walk(self, f):
        # a ucontext stack's base is ctx_tramp: below it only the C
        # library's makecontext trampoline, which gdb cannot name
        base = 'ctx_tramp' if self.rt.ctx_kind == 'ucontext' else None
        while f is not None:
            yield f
            if base is not None and f.name() == base:
                return
            f = f.older()

    def __exit__(self, *exc):
        _unwinder.regs = None
        gdb.invalidate_cached_frames()
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
            if self.frame is not None:
                try:
                    self.frame.select()
                except gdb.error:
                    pass
        return False


def _frame_args(f):
    """name=value for each argument, non-scalars as "..." (gdb's default)."""
    try:
        block = f.block()
    except RuntimeError:
        return ''
    while block is not None and block.function is None:
        block = block.superblock
    if block is None:
        return ''
    parts = []
    for sym in block:
        if not sym.is_argument:
            continue
        try:
            v = f.read_var(sym, block)
            code = v.type.strip_typedefs().code
            if code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION, gdb.TYPE_CODE_ARRAY):
                s = '...'
            else:
                s = str(v)
        except (gdb.error, ValueError):
            s = '<unavailable>'
        parts.append('%s=%s' % (sym.name, s))
    return ', '.join(parts)


def _frame_line(level, f):
    """A frame as gdb's backtrace prints it."""
    name = f.name() or '??'
    sal = f.find_sal()
    if sal.symtab is not None:
        where = ' at %s:%d' % (sal.symtab.filename, sal.line)
    else:
        lib = gdb.solib_name(f.pc())
        where = ' from ' + lib if lib else ''
    addr = '' if f.type() == gdb.INLINE_FRAME else '0x%016x in ' % f.pc()
    return '#%-2d %s%s (%s)%s' % (level, addr, name, _frame_args(f), where)


def _is_runtime(f, runtime_dir):
    """Whether a frame is the runtime's: a goc_ name, or a function of a
    file under the runtime's source directory."""
    name = f.name() or ''
    if name.startswith('goc_'):
        return True
    fn = f.function()
    if fn is None or fn.symtab is None or runtime_dir is None:
        return False
    return fn.symtab.fullname().startswith(runtime_dir)


def _runtime_dir():
    """The runtime's source directory (where runtime/core/sched.c is)."""
    sym = gdb.lookup_global_symbol('goc__park')
    if sym is None or sym.symtab is None:
        return None
    return os.path.dirname(os.path.dirname(sym.symtab.fullname())) + os.sep


# The sanitizers' runtimes: their frames are neither ours nor the program's.
_SANITIZER_PREFIXES = ('__asan_', '__tsan_', '__ubsan_', '__msan_', '__sanitizer_',
                       '__interceptor_')


def _where(rt, g, runtime_dir):
    """(the runtime call g is blocked in, its caller in the program as
    "function at file:line"); either may be '-'."""
    blocked, where = '-', '-'
    with _Frames(rt, g) as frames:
        for f in frames:
            if (f.name() or '').startswith(_SANITIZER_PREFIXES):
                continue
            if _is_runtime(f, runtime_dir):
                blocked = f.name() or '?'
                continue
            sal = f.find_sal()
            where = f.name() or '0x%x' % f.pc()
            if sal.symtab is not None:
                where += ' at %s:%d' % (os.path.basename(sal.symtab.filename), sal.line)
            break
    if rt.state(g) == 'running':
        blocked = '-'  # runtime frames of a running goroutine block nothing
    return blocked, where


# ---- the commands -----------------------------------------------------------------


class _InfoGoroutines(gdb.Command):
    """List the goroutines of a program linked with libgoc.
Usage: info goroutines
Each goroutine's id, state, the reason it waits, the runtime call it is
blocked in and the program's frame that made that call, the function it
started in, and the M (OS thread), P and gdb thread of one that runs.
"*" marks the goroutine running on the selected thread."""

    def __init__(self):
        super().__init__('info goroutines', gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        rt = _Runtime()
        runtime_dir = _runtime_dir()
        current = gdb.selected_thread()
        rows = [('', 'Id', 'State', 'Wait reason', 'M', 'P', 'Thread', 'Blocked in', 'Where',
                 'Started in')]
        for g in rt.goroutines():
            state = rt.state(g)
            reason = '-'
            if state == 'waiting' and int(g['waitreason']) != 0:
                reason = g['waitreason'].string()
            m = p = thread = '-'
            mark = ''
            if state in ('running', 'syscall') and int(g['m']) != 0:
                mv = g['m'].dereference()
                m = 'M%d' % int(mv['id'])
                if int(mv['p']) != 0:
                    p = 'P%d' % int(mv['p']['id'])
                t = rt.thread_of(g)
                if t is not None:
                    thread = str(t.num)
                    if current is not None and t.ptid == current.ptid:
                        mark = '*'
            try:
                blocked, where = _where(rt, g, runtime_dir)
            except (gdb.error, gdb.GdbError) as e:
                blocked, where = '-', '(%s)' % e
            rows.append((mark, str(int(g['id'])), state, reason, m, p, thread, blocked, where,
                         rt.start_function(g)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            cells = [r[0].ljust(1), r[1].rjust(widths[1])]
            cells += [r[i].ljust(widths[i]) for i in range(2, len(r) - 1)]
            cells.append(r[-1])
            gdb.write('  '.join(cells).rstrip() + '\n')


class _Goroutine(gdb.Command):
    """Show a goroutine's backtrace.
Usage: goroutine ID bt
       goroutine all bt
A parked goroutine's frames are unwound from its saved registers, a running
one's are its thread's."""

    def __init__(self):
        super().__init__('goroutine', gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        words = arg.split()
        if len(words) != 2 or words[1] not in ('bt', 'backtrace'):
            raise _Error('usage: goroutine ID bt, or goroutine all bt')
        rt = _Runtime()
        if words[0] == 'all':
            gs = rt.goroutines()
        else:
            try:
                goid = int(words[0], 0)
            except ValueError:
                raise _Error('goc: goroutine id expected, not %r' % words[0])
            gs = [rt.find(goid)]
        for i, g in enumerate(gs):
            if i > 0:
                gdb.write('\n')
            self._backtrace(rt, g)

    @staticmethod
    def _backtrace(rt, g):
        state = rt.state(g)
        label = state
        if state == 'waiting' and int(g['waitreason']) != 0:
            label = g['waitreason'].string()
        gdb.write('goroutine %d [%s]:\n' % (int(g['id']), label))
        if state in ('running', 'syscall') and rt.thread_of(g) is None:
            gdb.write('    (running on a thread gdb does not see)\n')
            return
        n = 0
        try:
            with _Frames(rt, g) as frames:
                for f in frames:
                    gdb.write(_frame_line(n, f) + '\n')
                    n += 1
        except (gdb.error, gdb.GdbError) as e:
            gdb.write('    (unwinding stopped: %s)\n' % e)
        if n == 0:
            gdb.write('    (not started: it will run %s)\n' % rt.start_function(g))


_InfoGoroutines()
_Goroutine()
