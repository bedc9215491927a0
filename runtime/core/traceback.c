/* traceback.c: walking stacks through their frame pointers, and naming
 * PCs from the ELF symbol tables of the loaded objects (traceback.h).
 *
 * Frames: on x86-64 and aarch64 a frame record is two words at the frame
 * pointer, the caller's frame pointer and the return address. A walk
 * follows the records up the stack while each lies inside the stack's
 * bounds, above the last one, and aligned, so it stops at the outermost
 * frame (goc__ctx_init leaves a null record there) or at any chain that
 * does not look like one. A context a signal interrupted may stand where
 * the chain does not show its caller yet (a prologue, a leaf without a
 * record, the C library, built without frame pointers): those frames are
 * found from the stack pointer (interrupted_frames). Without a record and
 * without unwind tables (not read here), a frame between two others may
 * go unseen; the rest of the chain is exact.
 *
 * Symbols: goc__traceback_init records each loaded object (its load bias,
 * the span of its segments, its path). The first name asked of an object
 * maps its file, finds .symtab (else .dynsym) and sorts its function
 * symbols by address into an index in anonymous memory; later lookups are
 * a binary search. dladdr would see only exported symbols; the runtime's
 * and the program's own static functions are most of what a stack holds.
 *
 * gdb: this file also carries the gdb extension (runtime/gdb/goc-gdb.py:
 * info goroutines, goroutine N bt) into every program linked with libgoc,
 * in its .debug_gdb_scripts section. It is here because every program
 * that starts the runtime links this file.
 *
 * Invariants:
 *  - mods[0, nmods) is written by goc__traceback_init only, before other
 *    threads exist, and read-only afterwards.
 *  - A module's index is built by the one caller that moves its state from
 *    UNLOADED to LOADING, and published by the release store of READY;
 *    a caller that finds it LOADING does not wait (it may be a signal
 *    handler interrupting the builder): it names the PC by module only.
 */
#include "traceback.h"

#include "goc_gdb_script.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* gdb runs the script when it loads the program (doc/runtime.md). */
__asm__(GOC__GDB_SCRIPT_ASM);

#define MAX_MODS 64
#define MAX_PATH 256

enum { UNLOADED, LOADING, READY, FAILED };

/* One function symbol. */
typedef struct sym {
    uintptr_t addr; /* in the object's own addresses */
    uintptr_t size; /* 0: unknown, up to the next symbol */
    uint32_t name;  /* offset in strtab */
} sym;

typedef struct module {
    uintptr_t bias;       /* load address - the object's own addresses */
    uintptr_t lo, hi;     /* span of its loaded segments, absolute */
    uintptr_t xlo, xhi;   /* span of its executable segments, absolute */
    char path[MAX_PATH];  /* file to read the symbols from */
    _Atomic int state;    /* UNLOADED .. FAILED, see invariants */
    sym *syms;            /* sorted by addr [state READY] */
    size_t nsyms;         /* [state READY] */
    const char *strtab;   /* names, in the file's mapping [state READY] */
    size_t strtab_size;   /* [state READY] */
} module;

static module mods[MAX_MODS];
static int nmods;

/* ---- the loaded objects ----------------------------------------------------- */

static int add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (nmods == MAX_MODS)
        return 1;
    uintptr_t lo = UINTPTR_MAX, hi = 0, xlo = UINTPTR_MAX, xhi = 0;
    bool exec = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
        if (ph->p_flags & PF_X) {
            exec = true;
            if (a < xlo)
                xlo = a;
            if (a + ph->p_memsz > xhi)
                xhi = a + ph->p_memsz;
        }
    }
    if (!exec)
        return 0;
    module *m = &mods[nmods];
    const char *name = info->dlpi_name;
    if (name == NULL || name[0] == 0) { /* the executable */
        ssize_t n = readlink("/proc/self/exe", m->path, sizeof m->path - 1);
        m->path[n > 0 ? n : 0] = 0;
    } else {
        size_t n = strlen(name);
        if (n >= sizeof m->path)
            n = sizeof m->path - 1;
        memcpy(m->path, name, n);
        m->path[n] = 0;
    }
    m->bias = info->dlpi_addr;
    m->lo = lo;
    m->hi = hi;
    m->xlo = xlo;
    m->xhi = xhi;
    atomic_store(&m->state, m->path[0] == '/' ? UNLOADED : FAILED); /* the vDSO has no file */
    nmods++;
    return 0;
}

void goc__traceback_init(void)
{
    if (nmods == 0)
        dl_iterate_phdr(add_module, NULL);
}

static module *module_of(uintptr_t pc)
{
    for (int i = 0; i < nmods; i++)
        if (pc >= mods[i].lo && pc < mods[i].hi)
            return &mods[i];
    return NULL;
}

/* ---- a module's symbols --------------------------------------------------------- */

static void sift(sym *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c + 1].addr > a[c].addr)
            c++;
        if (a[i].addr >= a[c].addr)
            return;
        sym t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

/* Heapsort: no recursion, no allocation. */
static void sort_syms(sym *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t end = n; end > 1; end--) {
        sym t = a[0];
        a[0] = a[end - 1];
        a[end - 1] = t;
        sift(a, 0, end - 1);
    }
}

/* The section of the given type (SHT_SYMTAB, SHT_DYNSYM), or NULL. */
static const ElfW(Shdr) *find_section(const char *base, size_t len, uint32_t type)
{
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)) ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > len)
        return NULL;
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(base + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == type)
            return &sh[i];
    return NULL;
}

/* Builds m's index from the file mapped at base. */
static bool index_symbols(module *m, const char *base, size_t len)
{
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return false;
    const ElfW(Shdr) *st = find_section(base, len, SHT_SYMTAB);
    if (!st)
        st = find_section(base, len, SHT_DYNSYM);
    if (!st || st->sh_link >= eh->e_shnum || st->sh_offset + st->sh_size > len)
        return false;
    const ElfW(Shdr) *str = (const ElfW(Shdr) *)(base + eh->e_shoff) + st->sh_link;
    if (str->sh_offset + str->sh_size > len)
        return false;
    const ElfW(Sym) *es = (const ElfW(Sym) *)(base + st->sh_offset);
    size_t n = st->sh_size / sizeof *es, count = 0;
    for (size_t i = 0; i < n; i++)
        if ((ELF64_ST_TYPE(es[i].st_info) == STT_FUNC ||
             ELF64_ST_TYPE(es[i].st_info) == STT_GNU_IFUNC) &&
            es[i].st_shndx != SHN_UNDEF && es[i].st_value != 0)
            count++;
    if (count == 0)
        return false;
    sym *syms = mmap(NULL, count * sizeof *syms, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (syms == MAP_FAILED)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n && k < count; i++) {
        int type = ELF64_ST_TYPE(es[i].st_info);
        if ((type == STT_FUNC || type == STT_GNU_IFUNC) && es[i].st_shndx != SHN_UNDEF &&
            es[i].st_value != 0 && es[i].st_name < str->sh_size)
            syms[k++] = (sym){es[i].st_value, es[i].st_size, es[i].st_name};
    }
    sort_syms(syms, k);
    m->syms = syms;
    m->nsyms = k;
    m->strtab = base + str->sh_offset;
    m->strtab_size = str->sh_size;
    return true;
}

static bool load_symbols(module *m)
{
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat sb;
    void *base = MAP_FAILED;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0)
        base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED)
        return false;
    if (index_symbols(m, base, (size_t)sb.st_size))
        return true; /* the mapping stays: the names live in it */
    munmap(base, (size_t)sb.st_size);
    return false;
}

/* m's index if it is, or can now be, built; NULL otherwise. */
static bool module_ready(module *m)
{
    int s = atomic_load_explicit(&m->state, memory_order_acquire);
    if (s == UNLOADED && atomic_compare_exchange_strong(&m->state, &s, LOADING)) {
        s = load_symbols(m) ? READY : FAILED;
        atomic_store_explicit(&m->state, s, memory_order_release);
    }
    return s == READY;
}

/* The last symbol at or below rel, if rel lies within it. */
static const sym *lookup(const module *m, uintptr_t rel)
{
    size_t lo = 0, hi = m->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->syms[mid].addr <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const sym *s = &m->syms[lo - 1];
    /* Aliases share an address: take the first one with a size. */
    while (s > m->syms && s[-1].addr == s->addr && s->size == 0)
        s--;
    if (s->size != 0 && rel >= s->addr + s->size)
        return NULL;
    return s;
}

bool goc__symbolize(uintptr_t pc, goc__symbol *out)
{
    memset(out, 0, sizeof *out);
    module *m = module_of(pc);
    if (!m)
        return false;
    out->module = m->path;
    out->rel = pc - m->bias;
    if (!module_ready(m))
        return false;
    const sym *s = lookup(m, out->rel);
    if (!s)
        return false;
    out->func = m->strtab + s->name;
    out->offset = out->rel - s->addr;
    return true;
}

/* ---- walking ------------------------------------------------------------------- */

/* Reads other goroutines' stacks on purpose, unsynchronized: a walk of a
 * goroutine that starts running meanwhile reads garbage within bounds,
 * which ends the walk. The sanitizers are told so. */
#if defined(__clang__)
#define NO_SANITIZE_WALK __attribute__((no_sanitize("address", "thread")))
#else
#define NO_SANITIZE_WALK
#endif

NO_SANITIZE_WALK int goc__traceback_walk(uintptr_t pc, uintptr_t fp, uintptr_t lo, uintptr_t hi,
                                         uintptr_t *pcs, int max)
{
    int n = 0;
    if (max > 0 && pc != 0)
        pcs[n++] = pc + 1;
    while (n < max && fp >= lo && fp + 2 * sizeof(uintptr_t) <= hi &&
           fp % sizeof(uintptr_t) == 0) {
        const uintptr_t *rec = (const uintptr_t *)fp;
        uintptr_t next = rec[0], ret = rec[1];
        if (ret == 0)
            break;
        pcs[n++] = ret;
        if (next <= fp) /* the chain only goes up */
            break;
        fp = next;
    }
    return n;
}

/* The bounds of the stack holding addr: a goroutine's, or the current M's
 * own. False when neither holds it. */
static bool stack_bounds(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    bool guard;
    goc_g *g = goc__stack_find((const void *)addr, &guard);
    if (g && !guard) {
        *lo = (uintptr_t)g->stack->lo;
        *hi = (uintptr_t)g; /* the G header sits at the top */
        return true;
    }
    goc_m *m = goc__getm();
    if (m && addr >= (uintptr_t)m->g0_stack_lo &&
        addr < (uintptr_t)m->g0_stack_lo + m->g0_stack_size) {
        *lo = (uintptr_t)m->g0_stack_lo;
        *hi = *lo + m->g0_stack_size;
        return true;
    }
    return false;
}

/* Whether ret looks like a return address: inside a named function, right
 * after a call instruction (x86-64: call rel32, call *reg, call *mem; the
 * bytes before it are mapped code of the same object). */
static bool after_call(uintptr_t ret)
{
    goc__symbol s;
    if (!goc__symbolize(ret - 1, &s) || s.offset < 1)
        return false;
    /* A word that points into the object's data (a symbol of unknown size
     * below it "names" it) is no return address, and the bytes before it
     * need not be mapped: only code is read. */
    const module *m = module_of(ret - 1);
    if (!m || ret - 1 < m->xlo + 8 || ret > m->xhi)
        return false;
#if defined(__x86_64__)
    const uint8_t *c = (const uint8_t *)ret;
    size_t room = s.offset + 1; /* bytes of the function before ret */
    if (room >= 5 && c[-5] == 0xe8)
        return true;                                      /* call rel32 */
    if (room >= 2 && c[-2] == 0xff && (c[-1] & 0xf8) == 0xd0)
        return true;                                      /* call *%reg */
    if (room >= 3 && c[-3] == 0x41 && c[-2] == 0xff && (c[-1] & 0xf8) == 0xd0)
        return true;                                      /* call *%r8-r15 */
    if (room >= 6 && c[-6] == 0xff && c[-5] == 0x15)
        return true;                                      /* call *rel32(%rip) */
    return false;
#elif defined(__aarch64__)
    uint32_t insn;
    memcpy(&insn, (const void *)(ret - 4), 4);
    return (insn & 0xfc000000u) == 0x94000000u ||  /* bl */
           (insn & 0xfffffc1fu) == 0xd63f0000u;    /* blr */
#else
    return false;
#endif
}

/* Whether the function starting at c makes a frame record, and after how
 * many bytes it has pushed the frame pointer (*k). x86-64: push %rbp;
 * mov %rsp, %rbp, after an endbr64. aarch64: stp x29, x30, [sp, #-n]!,
 * after a paciasp. GCC leaves the record out of leaf functions that need no
 * stack, whatever -fno-omit-frame-pointer says; code built without frame
 * pointers (the C library) has none either. */
static bool makes_record(const uint8_t *c, size_t *k)
{
#if defined(__x86_64__)
    static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa}, mov[3] = {0x48, 0x89, 0xe5};
    size_t e = memcmp(c, endbr64, 4) == 0 ? 4 : 0;
    *k = e + 1;
    return c[e] == 0x55 && memcmp(c + e + 1, mov, 3) == 0;
#elif defined(__aarch64__)
    uint32_t insn;
    memcpy(&insn, c, 4);
    *k = 4;
    if (insn == 0xd503233f) { /* paciasp */
        memcpy(&insn, c + 4, 4);
        *k = 8;
    }
    return (insn & 0xffc07fffu) == 0xa9807bfdu;
#else
    *k = 0;
    (void)c;
    return false;
#endif
}

/* The frames of a context a signal interrupted that the chain from fp does
 * not hold, stored in out (innermost first), counted:
 *  - no code at pc (a call through a bad pointer): the return address is
 *    where a function's first instruction finds it, at sp (x86-64) or in
 *    lr (aarch64);
 *  - a named function that has not made its record yet: at sp, one word
 *    above once the frame pointer is pushed, or in lr;
 *  - code without a record (no symbol, or a function that makes none):
 *    the words from sp up that look like return addresses (after_call),
 *    while they return into more such code, in at most 4 KiB below fp;
 *    the first one into a function that makes a record ends the scan (the
 *    chain from fp goes on from there). */
NO_SANITIZE_WALK static int interrupted_frames(uintptr_t pc, uintptr_t sp, uintptr_t fp,
                                               uintptr_t lr, uintptr_t *out, int max)
{
    uintptr_t lo, hi;
    if (max < 1 || !stack_bounds(sp, &lo, &hi) || sp % sizeof(uintptr_t) != 0)
        return 0;
    const uintptr_t *word = (const uintptr_t *)sp;
    goc__symbol s;
    bool named = goc__symbolize(pc, &s);
    size_t k = 0;
    bool framed = named && makes_record((const uint8_t *)(pc - s.offset), &k);
    if (!named && s.module == NULL) { /* no code */
#if defined(__aarch64__)
        out[0] = lr;
        return 1;
#else
        (void)lr;
        out[0] = sp + sizeof *word <= hi ? word[0] : 0;
        return out[0] != 0;
#endif
    }
    if (framed && s.offset >= k + 3)
        return 0; /* the record is made: the chain from fp has the rest */
    if (framed) { /* in its prologue */
#if defined(__aarch64__)
        out[0] = lr;
#else
        size_t off = s.offset >= k ? 1 : 0; /* past the push: one word above */
        out[0] = sp + (off + 1) * sizeof *word <= hi ? word[off] : 0;
#endif
        return out[0] != 0;
    }
    uintptr_t end = fp > sp && fp < hi ? fp : hi;
    if (end - sp > 4096)
        end = sp + 4096;
    int n = 0;
    for (; n < max && (uintptr_t)word + sizeof *word <= end; word++) {
        if (!after_call(*word))
            continue;
        out[n++] = *word;
        goc__symbol r;
        if (goc__symbolize(*word - 1, &r) && makes_record((const uint8_t *)(*word - 1 - r.offset), &k))
            break;
    }
    return n;
}

NO_SANITIZE_WALK int goc__traceback_signal(uintptr_t pc, uintptr_t sp, uintptr_t fp,
                                           uintptr_t lr, uintptr_t *pcs, int max)
{
    if (max < 2)
        return 0;
    int n = 0;
    pcs[n++] = pc + 1;
    n += interrupted_frames(pc, sp, fp, lr, pcs + n, max - n);
    uintptr_t lo, hi;
    if (!stack_bounds(fp, &lo, &hi))
        return n;
    return n + goc__traceback_walk(0, fp, lo, hi, pcs + n, max - n);
}

/* The PCs from the frame record at fp, on its own stack. */
static int walk_from(uintptr_t fp, uintptr_t *pcs, int max)
{
    uintptr_t lo, hi;
    if (!stack_bounds(fp, &lo, &hi))
        return 0;
    return goc__traceback_walk(0, fp, lo, hi, pcs, max);
}

/* Both start from their own frame record, whose return address is the
 * return into their caller: the caller's frame comes first. */
__attribute__((noinline)) int goc__traceback_here(uintptr_t *pcs, int max)
{
    return walk_from((uintptr_t)__builtin_frame_address(0), pcs, max);
}

__attribute__((noinline)) int goc__traceback_g(goc_g *g, uintptr_t *pcs, int max)
{
    if (g == goc__getg())
        return walk_from((uintptr_t)__builtin_frame_address(0), pcs, max);
    uint32_t s = atomic_load(&g->status);
    if (s != GOC_GRUNNABLE && s != GOC_GWAITING)
        return -1;
    uintptr_t pc, fp;
    goc__ctx_frame(&g->ctx, &pc, &fp);
    if (pc == 0) { /* not started: its function is all there is */
        if (max < 1 || g->fn == NULL)
            return 0;
        pcs[0] = (uintptr_t)g->fn + 1;
        return 1;
    }
    return goc__traceback_walk(pc, fp, (uintptr_t)g->stack->lo, (uintptr_t)g, pcs, max);
}
