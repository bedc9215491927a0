/* alloc_shim.c: an LD_PRELOAD library for test_alloc.py. It stands in for
 * libc's allocation calls, forwards each to glibc's own (__libc_malloc
 * and friends), and counts the calls made directly from code that must
 * allocate through goc_malloc instead: the program itself (the runtime,
 * proto and the server are linked into it) and the libraries the server
 * routes to goc_malloc (jansson, libuv, SQLite). At exit it writes the
 * counts, and the first call sites of each, to $GOC_ALLOC_REPORT.
 *
 * Only the direct caller is looked at (__builtin_return_address): libc's
 * own allocations (stdio buffers, strdup called by our code) have their
 * caller in libc. tests/server/alloc_test.py finds the calls that go
 * through such libc functions statically, from the objects' symbols. A
 * library function that ends in a tail call to free (wslay's does) makes
 * its caller look like free's: so each call site is reported with its
 * count, and test_alloc.py keeps only the sites whose instruction is a
 * call to an allocation function.
 *
 * The address ranges are taken once, in a constructor, before the
 * program's main: malloc may run with the loader's locks held, so the
 * counting path calls nothing but atomics.
 */
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);
void *__libc_memalign(size_t, size_t);

enum { WHO_OTHER = -1, WHO_PROGRAM, WHO_JANSSON, WHO_UV, WHO_SQLITE, NWHO };
static const char *const who_name[NWHO] = {"program", "libjansson", "libuv", "libsqlite3"};

#define MAX_RANGES 32
static struct {
    uintptr_t lo, hi; /* an executable segment */
    uintptr_t base;   /* its object's load address */
    int who;
    const char *path; /* its object's file ("" for the program) */
} ranges[MAX_RANGES];
static int nranges;

#define MAX_SITES 64
static _Atomic uint64_t count[NWHO];
static struct {
    _Atomic uintptr_t off;  /* return address, as an offset in its object; 0: unused */
    _Atomic uint64_t calls; /* allocation calls returning there */
    const char *path;
} sites[NWHO][MAX_SITES];

static int classify_object(const char *name, int first)
{
    if (first)
        return WHO_PROGRAM; /* the first object is the executable */
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    for (int w = WHO_JANSSON; w < NWHO; w++)
        if (strncmp(base, who_name[w], strlen(who_name[w])) == 0)
            return w;
    return WHO_OTHER;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    int *first = data;
    int who = classify_object(info->dlpi_name, *first);
    *first = 0;
    if (who == WHO_OTHER)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nranges < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        ranges[nranges].lo = lo;
        ranges[nranges].hi = lo + ph->p_memsz;
        ranges[nranges].base = info->dlpi_addr;
        ranges[nranges].who = who;
        ranges[nranges].path = info->dlpi_name;
        nranges++;
    }
    return 0;
}

static void note(void *ra)
{
    uintptr_t a = (uintptr_t)ra;
    for (int i = 0; i < nranges; i++) {
        if (a < ranges[i].lo || a >= ranges[i].hi)
            continue;
        int w = ranges[i].who;
        atomic_fetch_add(&count[w], 1);
        uintptr_t off = a - ranges[i].base;
        for (int s = 0; s < MAX_SITES; s++) {
            uintptr_t cur = atomic_load(&sites[w][s].off), zero = 0;
            if (cur == 0 && atomic_compare_exchange_strong(&sites[w][s].off, &zero, off)) {
                sites[w][s].path = ranges[i].path;
                cur = off;
            } else if (cur == 0) {
                cur = zero; /* another thread took this slot meanwhile */
            }
            if (cur == off) {
                atomic_fetch_add(&sites[w][s].calls, 1);
                break;
            }
        }
        return;
    }
}

void *malloc(size_t n)
{
    note(__builtin_return_address(0));
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    note(__builtin_return_address(0));
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    note(__builtin_return_address(0));
    return __libc_realloc(p, n);
}

void *reallocarray(void *p, size_t n, size_t size)
{
    note(__builtin_return_address(0));
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, total);
}

void free(void *p)
{
    if (p)
        note(__builtin_return_address(0));
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    note(__builtin_return_address(0));
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    note(__builtin_return_address(0));
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    note(__builtin_return_address(0));
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

__attribute__((constructor)) static void shim_init(void)
{
    int first = 1;
    dl_iterate_phdr(add_object, &first);
}

__attribute__((destructor)) static void shim_report(void)
{
    const char *path = getenv("GOC_ALLOC_REPORT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    for (int w = 0; w < NWHO; w++) {
        fprintf(f, "count %s %llu\n", who_name[w], (unsigned long long)atomic_load(&count[w]));
        for (int s = 0; s < MAX_SITES; s++) {
            uintptr_t off = atomic_load(&sites[w][s].off);
            if (off)
                fprintf(f, "site %s 0x%llx %llu %s\n", who_name[w], (unsigned long long)off,
                        (unsigned long long)atomic_load(&sites[w][s].calls),
                        sites[w][s].path && *sites[w][s].path ? sites[w][s].path : "-");
        }
    }
    fclose(f);
}
