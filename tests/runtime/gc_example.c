/* gc_example.c: the README's collected-memory program, as a user writes
 * it: it must build without a warning under -Wall -Wextra -Wpedantic in
 * C99, C11 and C++11 (tests/runtime/meson.build), and run. Its goroutines
 * build about 200 MB of trees and pass them through a channel, and nothing
 * frees them; it exits 1 unless the collected heap stayed bounded (its goal
 * under 64 MiB) and every tree arrived whole. */
#include <goc/goc.h>
#include <stdio.h>

typedef struct node {
    struct node *left, *right;
    long value;
} node;

static node *tree(int depth, long value) /* never freed: collected once unreachable */
{
    node *n = GOC_GC_NEW(node);
    n->value = value;
    if (depth > 0) {
        n->left = tree(depth - 1, 2 * value);
        n->right = tree(depth - 1, 2 * value + 1);
    }
    return n;
}

static long count(const node *n)
{
    return n ? 1 + count(n->left) + count(n->right) : 0;
}

typedef struct producer_args {
    goc_chan *trees;
    int n;
} producer_args;

static void producer(void *arg)
{
    producer_args *a = (producer_args *)arg;
    for (int i = 0; i < a->n; i++) {
        node *t = tree(10, 1);        /* 2047 nodes */
        goc_chan_send(a->trees, &t); /* from here only the channel's buffer holds it */
    }
    goc_chan_close(a->trees);
}

GOC_MAIN(argc, argv)
{
    goc_chan *trees = goc_chan_make(sizeof(node *), 16);
    producer_args a = {trees, 4000};
    goc_go(producer, &a, sizeof a);
    long nodes = 0;
    node *t;
    while (goc_chan_recv(trees, &t))
        nodes += count(t); /* and dropped: nothing to free */
    goc_chan_free(trees);

    goc_gc_stats s;
    goc_gc_stats_read(&s);
    printf("%ld nodes received, %llu collections, heap goal %llu KiB\n", nodes,
           (unsigned long long)s.cycles, (unsigned long long)s.heap_goal >> 10);
    return nodes == 4000L * 2047 && s.heap_goal < (64u << 20) ? 0 : 1;
}
