/* profile.c: the profile.proto builder (profile.h).
 *
 * Field numbers are profile.proto's (github.com/google/pprof
 * proto/profile.proto; Go's runtime/pprof/proto.go lists the same).
 * Samples go into the message as they are added; Locations and Functions
 * into buffers of their own as they are first met; finish appends those,
 * the Mappings, the string table and the scalars. Ids start at 1.
 *
 * Invariants:
 *  - strs[0] is "" (profile.proto requires it), and str_index maps the
 *    hash of every string in strs to its index (a collision moves the
 *    later string's key to the next free hash value).
 *  - A Location id is given to a PC (or a made-up frame) exactly once; a
 *    Function id to a name exactly once.
 */
#include "profile.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "labels.h"
#include "runtime.h"
#include "traceback.h"

enum { /* profile.proto */
    PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5, PROFILE_STRING = 6, PROFILE_TIME = 9, PROFILE_DURATION = 10,
    PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12, PROFILE_DEFAULT_TYPE = 14,
    VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
    SAMPLE_LOCATION = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
    LABEL_KEY = 1, LABEL_STR = 2,
    MAPPING_ID = 1, MAPPING_START = 2, MAPPING_LIMIT = 3, MAPPING_OFFSET = 4,
    MAPPING_FILE = 5, MAPPING_BUILD_ID = 6, MAPPING_HAS_FUNCTIONS = 7,
    LOCATION_ID = 1, LOCATION_MAPPING = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4,
    LINE_FUNCTION = 1,
    FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3,
};

#define MAX_STACK 128 /* frames per sample the builder takes */

/* ---- a table of 64-bit keys ------------------------------------------------- */

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

uint64_t *goc__u64map_get(const goc__u64map *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return &m->vals[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

static bool u64map_grow(goc__u64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = goc__calloc(cap, sizeof *keys), *vals = goc__calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        goc__free(keys);
        goc__free(vals);
        return false;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (m->keys[j] == 0)
            continue;
        size_t i = mix(m->keys[j]) & (cap - 1);
        while (keys[i])
            i = (i + 1) & (cap - 1);
        keys[i] = m->keys[j];
        vals[i] = m->vals[j];
    }
    goc__free(m->keys);
    goc__free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return true;
}

uint64_t *goc__u64map_put(goc__u64map *m, uint64_t key, bool *added)
{
    *added = false;
    uint64_t *v = goc__u64map_get(m, key);
    if (v)
        return v;
    if ((m->n + 1) * 4 > m->cap * 3 && !u64map_grow(m))
        return NULL;
    size_t i = mix(key) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = 0;
    m->n++;
    *added = true;
    return &m->vals[i];
}

void goc__u64map_free(goc__u64map *m)
{
    goc__free(m->keys);
    goc__free(m->vals);
    *m = (goc__u64map){0};
}

uint64_t goc__hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h ? h : 1;
}

/* ---- distinct stacks ------------------------------------------------------------ */

static uint64_t labels_hash(const goc__labels *l)
{
    uint64_t h = 0;
    for (int i = 0; l && i < 2 * l->n; i++)
        h = goc__hash_bytes(l->kv[i], strlen(l->kv[i]) + 1, h);
    return h;
}

static bool labels_equal(const goc__labels *a, const goc__labels *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->n != b->n)
        return false;
    for (int i = 0; i < 2 * a->n; i++)
        if (strcmp(a->kv[i], b->kv[i]) != 0)
            return false;
    return true;
}

int goc__stacktab_add(goc__stacktab *t, const uintptr_t *pcs, int n,
                      const struct goc__labels *labels)
{
    if (n > GOC__STACK_DEPTH)
        n = GOC__STACK_DEPTH;
    if (n < 0)
        n = 0;
    uint64_t h = goc__hash_bytes(pcs, (size_t)n * sizeof *pcs, labels_hash(labels));
    for (;; h = h + 1 ? h + 1 : 1) {
        uint64_t *v = goc__u64map_get(&t->index, h);
        if (!v)
            break;
        goc__stackrec *r = &t->recs[*v];
        if (r->n == n && memcmp(r->pcs, pcs, (size_t)n * sizeof *pcs) == 0 &&
            labels_equal(r->labels, labels)) {
            r->count++;
            return 0;
        }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        goc__stackrec *recs = goc__realloc(t->recs, cap * sizeof *recs);
        if (!recs)
            return -ENOMEM;
        t->recs = recs;
        t->cap = cap;
    }
    bool added;
    uint64_t *v = goc__u64map_put(&t->index, h, &added);
    if (!v)
        return -ENOMEM;
    *v = t->n;
    goc__stackrec *r = &t->recs[t->n++];
    r->count = 1;
    r->labels = labels;
    r->n = n;
    memcpy(r->pcs, pcs, (size_t)n * sizeof *pcs);
    return 1;
}

void goc__stacktab_free(goc__stacktab *t)
{
    goc__free(t->recs);
    goc__u64map_free(&t->index);
    memset(t, 0, sizeof *t);
}

/* ---- strings ------------------------------------------------------------------ */

/* The index of s (its first n bytes) in the string table, added if new;
 * 0 when memory ran out (the empty string's index: harmless, and err is
 * set). */
static int64_t str_n(goc__profile *p, const char *s, size_t n)
{
    for (uint64_t h = goc__hash_bytes(s, n, 0);; h = h + 1 ? h + 1 : 1) {
        bool added;
        uint64_t *v = goc__u64map_put(&p->str_index, h, &added);
        if (!v)
            goto nomem;
        if (!added) {
            const char *t = p->strs[*v];
            if (strlen(t) == n && memcmp(t, s, n) == 0)
                return (int64_t)*v;
            continue; /* another string with this hash */
        }
        if (p->nstrs == p->capstrs) {
            size_t cap = p->capstrs ? p->capstrs * 2 : 64;
            char **strs = goc__realloc(p->strs, cap * sizeof *strs);
            if (!strs)
                goto nomem;
            p->strs = strs;
            p->capstrs = cap;
        }
        char *copy = goc__alloc(n + 1);
        if (!copy)
            goto nomem;
        memcpy(copy, s, n);
        copy[n] = 0;
        *v = p->nstrs;
        p->strs[p->nstrs++] = copy;
        return (int64_t)*v;
    }
nomem:
    p->err = -ENOMEM;
    return 0;
}

static int64_t str(goc__profile *p, const char *s)
{
    return str_n(p, s, strlen(s));
}

/* ---- mappings ------------------------------------------------------------------ */

/* The GNU build id of the object, hex, from its PT_NOTE segments. */
static void build_id(const struct dl_phdr_info *info, char *out, size_t size)
{
    out[0] = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *n = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = n + ph->p_memsz;
        while (n + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)n;
            const uint8_t *name = n + sizeof *nh;
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz * 2 < size) {
                for (uint32_t k = 0; k < nh->n_descsz; k++) {
                    out[2 * k] = "0123456789abcdef"[desc[k] >> 4];
                    out[2 * k + 1] = "0123456789abcdef"[desc[k] & 15];
                }
                out[2 * nh->n_descsz] = 0;
                return;
            }
            n = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
}

static int add_maps(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    goc__profile *p = arg;
    char path[256], id[128];
    const char *name = info->dlpi_name;
    if (!name || !name[0]) { /* the executable */
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        path[n > 0 ? n : 0] = 0;
        name = path;
    }
    if (name[0] != '/')
        return 0; /* the vDSO: no file to read */
    build_id(info, id, sizeof id);
    for (int i = 0; i < info->dlpi_phnum && p->nmaps < GOC__PROFILE_MAX_MAPS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        /* As the kernel maps it: from the page holding the segment's start. */
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)4095;
        goc__pmap *m = &p->maps[p->nmaps++];
        m->start = start;
        m->limit = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        m->offset = ph->p_offset & ~(uintptr_t)4095;
        m->file = str(p, name);
        m->build_id = str(p, id);
    }
    return 0;
}

static uint64_t map_id(const goc__profile *p, uintptr_t pc)
{
    for (int i = 0; i < p->nmaps; i++)
        if (pc >= p->maps[i].start && pc < p->maps[i].limit)
            return (uint64_t)i + 1;
    return 0;
}

/* ---- functions and locations -------------------------------------------------- */

static uint64_t function(goc__profile *p, int64_t name)
{
    bool added;
    uint64_t *v = goc__u64map_put(&p->fn_by_name, (uint64_t)name + 1, &added);
    if (!v) {
        p->err = -ENOMEM;
        return 0;
    }
    if (added) {
        *v = ++p->nfuncs;
        size_t at = goc__pb_open(&p->funcs, PROFILE_FUNCTION);
        goc__pb_uint(&p->funcs, FUNCTION_ID, *v);
        goc__pb_int(&p->funcs, FUNCTION_NAME, name);
        goc__pb_int(&p->funcs, FUNCTION_SYSTEM_NAME, name);
        goc__pb_close(&p->funcs, at);
    }
    return *v;
}

/* A Location: at addr (0: none) with a line in the function named (-1:
 * unnamed). */
static uint64_t location(goc__profile *p, uint64_t *slot, uintptr_t addr, int64_t name)
{
    uint64_t fn = name >= 0 ? function(p, name) : 0;
    *slot = ++p->nlocs;
    size_t at = goc__pb_open(&p->locs, PROFILE_LOCATION);
    goc__pb_uint(&p->locs, LOCATION_ID, *slot);
    if (addr) {
        uint64_t mid = map_id(p, addr);
        if (mid)
            goc__pb_uint(&p->locs, LOCATION_MAPPING, mid);
        goc__pb_uint(&p->locs, LOCATION_ADDRESS, addr);
    }
    if (fn) {
        size_t line = goc__pb_open(&p->locs, LOCATION_LINE);
        goc__pb_uint(&p->locs, LINE_FUNCTION, fn);
        goc__pb_close(&p->locs, line);
    }
    goc__pb_close(&p->locs, at);
    return *slot;
}

/* The Location of the return address (or interrupted pc + 1) ret. */
static uint64_t location_pc(goc__profile *p, uintptr_t ret)
{
    uintptr_t addr = ret - 1; /* inside the call (or the interrupted instruction) */
    bool added;
    uint64_t *v = goc__u64map_put(&p->loc_by_pc, addr ? addr : 1, &added);
    if (!v) {
        p->err = -ENOMEM;
        return 0;
    }
    if (!added)
        return *v;
    goc__symbol s;
    int64_t name = goc__symbolize(addr, &s) ? str(p, s.func) : -1;
    return location(p, v, addr, name);
}

static uint64_t location_named(goc__profile *p, const char *frame)
{
    int64_t name = str(p, frame);
    bool added;
    uint64_t *v = goc__u64map_put(&p->loc_by_name, (uint64_t)name + 1, &added);
    if (!v) {
        p->err = -ENOMEM;
        return 0;
    }
    return added ? location(p, v, 0, name) : *v;
}

/* ---- the profile ----------------------------------------------------------------- */

static void value_type(goc__profile *p, int field, goc__ptype t)
{
    int64_t type = str(p, t.type), unit = str(p, t.unit);
    size_t at = goc__pb_open(&p->msg, field);
    goc__pb_int(&p->msg, VALUETYPE_TYPE, type);
    goc__pb_int(&p->msg, VALUETYPE_UNIT, unit);
    goc__pb_close(&p->msg, at);
}

int goc__profile_init(goc__profile *p, const goc__ptype *types, int ntypes, goc__ptype period_type,
                      int64_t period, const char *default_type)
{
    memset(p, 0, sizeof *p);
    p->nvalues = ntypes;
    str(p, "");
    for (int i = 0; i < ntypes; i++)
        value_type(p, PROFILE_SAMPLE_TYPE, types[i]);
    value_type(p, PROFILE_PERIOD_TYPE, period_type);
    goc__pb_int(&p->msg, PROFILE_PERIOD, period);
    if (default_type)
        goc__pb_int(&p->msg, PROFILE_DEFAULT_TYPE, str(p, default_type));
    dl_iterate_phdr(add_maps, p);
    if (p->err || p->msg.err) {
        goc__profile_free(p);
        return -ENOMEM;
    }
    return 0;
}

void goc__profile_add(goc__profile *p, const uintptr_t *pcs, int n, const char *name,
                      const int64_t *values, const char *const *labels, int nlabels)
{
    uint64_t ids[MAX_STACK + 1];
    int k = 0;
    for (int i = 0; i < n && k < MAX_STACK; i++)
        if (pcs[i] > 1)
            ids[k++] = location_pc(p, pcs[i]);
    if (name)
        ids[k++] = location_named(p, name);
    int64_t keys[2 * 64];
    if (nlabels > 64)
        nlabels = 64;
    for (int i = 0; i < 2 * nlabels; i++)
        keys[i] = str(p, labels[i]);
    size_t at = goc__pb_open(&p->msg, PROFILE_SAMPLE);
    goc__pb_packed(&p->msg, SAMPLE_LOCATION, ids, (size_t)k);
    goc__pb_packed_int(&p->msg, SAMPLE_VALUE, values, (size_t)p->nvalues);
    for (int i = 0; i < nlabels; i++) {
        size_t l = goc__pb_open(&p->msg, SAMPLE_LABEL);
        goc__pb_int(&p->msg, LABEL_KEY, keys[2 * i]);
        goc__pb_int(&p->msg, LABEL_STR, keys[2 * i + 1]);
        goc__pb_close(&p->msg, l);
    }
    goc__pb_close(&p->msg, at);
}

int goc__profile_finish(goc__profile *p, int64_t time_ns, int64_t duration_ns,
                        goc__pb_write_fn write, void *arg)
{
    goc__pb *m = &p->msg;
    for (int i = 0; i < p->nmaps; i++) {
        const goc__pmap *mp = &p->maps[i];
        size_t at = goc__pb_open(m, PROFILE_MAPPING);
        goc__pb_uint(m, MAPPING_ID, (uint64_t)i + 1);
        goc__pb_uint(m, MAPPING_START, mp->start);
        goc__pb_uint(m, MAPPING_LIMIT, mp->limit);
        goc__pb_uint(m, MAPPING_OFFSET, mp->offset);
        goc__pb_int(m, MAPPING_FILE, mp->file);
        goc__pb_int(m, MAPPING_BUILD_ID, mp->build_id);
        goc__pb_uint(m, MAPPING_HAS_FUNCTIONS, 1);
        goc__pb_close(m, at);
    }
    goc__pb_bytes(m, p->locs.data, p->locs.len);
    goc__pb_bytes(m, p->funcs.data, p->funcs.len);
    for (size_t i = 0; i < p->nstrs; i++)
        goc__pb_string(m, PROFILE_STRING, p->strs[i], strlen(p->strs[i]));
    goc__pb_int(m, PROFILE_TIME, time_ns);
    if (duration_ns)
        goc__pb_int(m, PROFILE_DURATION, duration_ns);
    int rc = p->err ? p->err : m->err ? m->err : p->locs.err ? p->locs.err : p->funcs.err;
    if (rc == 0)
        rc = goc__gzip_write(m->data, m->len, write, arg);
    goc__profile_free(p);
    return rc;
}

void goc__profile_free(goc__profile *p)
{
    goc__pb_free(&p->msg);
    goc__pb_free(&p->locs);
    goc__pb_free(&p->funcs);
    for (size_t i = 0; i < p->nstrs; i++)
        goc__free(p->strs[i]);
    goc__free(p->strs);
    goc__u64map_free(&p->str_index);
    goc__u64map_free(&p->loc_by_pc);
    goc__u64map_free(&p->loc_by_name);
    goc__u64map_free(&p->fn_by_name);
    memset(p, 0, sizeof *p);
}
