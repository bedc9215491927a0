/* profile.h: building one profile.proto message (Go's
 * runtime/pprof/proto.go profileBuilder, in our terms), for every profile
 * the runtime writes (pprof.c, cpu.c).
 *
 * A writer starts a builder with the profile's sample types, adds its
 * samples (each a stack of PCs as the tracebacks return them, one value
 * per sample type, and optional labels), and finishes it into a writer as
 * gzip. The builder names each distinct PC once (goc__symbolize) into a
 * Location with one Line and its Function, and lists the executable's and
 * the libraries' mappings (dl_iterate_phdr, with their GNU build ids) so
 * that `go tool pprof` can also symbolize from the files itself.
 *
 * Memory: everything comes from the runtime's allocator and is freed by
 * goc__profile_finish, or goc__profile_free when abandoned. Not safe for
 * concurrent use: one goroutine builds one profile.
 */
#ifndef GOC_PROF_PROFILE_H
#define GOC_PROF_PROFILE_H

#include <stdint.h>

#include "pb.h"

#define GOC__PROFILE_MAX_MAPS 64

/* A sample type or the period's type: strings in Go's own words
 * ("alloc_space", "bytes"). */
typedef struct goc__ptype {
    const char *type;
    const char *unit;
} goc__ptype;

/* An open-addressing table from a nonzero 64-bit key to a value. */
typedef struct goc__u64map {
    uint64_t *keys; /* 0: empty slot */
    uint64_t *vals;
    size_t n, cap;  /* cap a power of two, or 0 */
} goc__u64map;

/* One executable mapping of a loaded object. */
typedef struct goc__pmap {
    uintptr_t start, limit, offset;
    int64_t file, build_id; /* string indexes */
} goc__pmap;

typedef struct goc__profile {
    goc__pb msg;            /* the Profile message: samples, then the tables */
    goc__pb locs, funcs;    /* Location and Function messages, appended at the end */
    int nvalues;            /* values per sample */
    /* the string table: strs[i] is string i (copies), index 0 is "" */
    char **strs;
    size_t nstrs, capstrs;
    goc__u64map str_index;  /* a string's hash (bumped past collisions) -> its index */
    goc__u64map loc_by_pc;  /* pc -> Location id */
    goc__u64map loc_by_name; /* string index of a synthetic frame -> Location id */
    goc__u64map fn_by_name; /* string index of a name -> Function id */
    uint64_t nlocs, nfuncs;
    goc__pmap maps[GOC__PROFILE_MAX_MAPS];
    int nmaps;
    int err;                /* sticky -ENOMEM of the tables */
} goc__profile;

/* Starts p: its sample types, period type and period, and the default
 * sample type (NULL: the last, pprof's rule). 0 or -ENOMEM (p freed). */
int goc__profile_init(goc__profile *p, const goc__ptype *types, int ntypes, goc__ptype period_type,
                      int64_t period, const char *default_type);

/* Adds one sample: pcs[0, n) innermost first (return addresses, the first
 * may be an interrupted pc + 1, as every traceback returns them; each is
 * named at pc - 1), then, when name is not NULL, one more frame of that
 * name and no address (a frame the runtime makes up: "lost samples").
 * values: p's nvalues values. labels: nlabels key/value pairs (NULL:
 * none). */
void goc__profile_add(goc__profile *p, const uintptr_t *pcs, int n, const char *name,
                      const int64_t *values, const char *const *labels, int nlabels);

/* Appends the tables and the times, writes the message as gzip to write
 * and frees p. Returns 0, -ENOMEM (nothing written) or write's error. */
int goc__profile_finish(goc__profile *p, int64_t time_ns, int64_t duration_ns,
                        goc__pb_write_fn write, void *arg);

void goc__profile_free(goc__profile *p);

/* Distinct (stack, labels) with their counts: the CPU and goroutine
 * profiles aggregate their samples in one. Label sets are compared by
 * their contents (the record keeps the first set met), and the table
 * takes no reference to them. */
#define GOC__STACK_DEPTH 64

typedef struct goc__stackrec {
    int64_t count;
    const struct goc__labels *labels;
    int32_t n;
    uintptr_t pcs[GOC__STACK_DEPTH];
} goc__stackrec;

typedef struct goc__stacktab {
    goc__stackrec *recs; /* goc__alloc'd */
    size_t n, cap;
    goc__u64map index;   /* hash (bumped past collisions) -> index in recs */
} goc__stacktab;

/* Counts one more (pcs[0, n), labels). Returns 1 when the pair is new, 0
 * when it was counted before, -ENOMEM. n is cut to GOC__STACK_DEPTH. */
int goc__stacktab_add(goc__stacktab *t, const uintptr_t *pcs, int n,
                      const struct goc__labels *labels);
void goc__stacktab_free(goc__stacktab *t);

/* The table (used for aggregation by the writers too). */
uint64_t *goc__u64map_get(const goc__u64map *m, uint64_t key);
/* The slot of key, inserted with value 0 when new; NULL when memory ran
 * out. key must not be 0. */
uint64_t *goc__u64map_put(goc__u64map *m, uint64_t key, bool *added);
void goc__u64map_free(goc__u64map *m);

/* A 64-bit hash of n bytes (FNV-1a, never 0). */
uint64_t goc__hash_bytes(const void *p, size_t n, uint64_t seed);

#endif
