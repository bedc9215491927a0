/* ctx_check.c: a quick check of a context-switch port (scripts/test-aarch64):
 * goroutines, yields, a rounding mode kept per goroutine, panic/recover,
 * sleep. Exit status 0 when all hold. */
#include <goc/sched.h>
#include <fenv.h>
#include <stdio.h>
#include <stdatomic.h>
static atomic_int n, fp_bad;
static void w(void *a) { int x = *(int*)a; for (int i=0;i<3;i++) goc_yield(); atomic_fetch_add(&n, x); }
static void rounder(void *a) { (void)a; fesetround(FE_UPWARD); for (int i=0;i<1000;i++){ goc_yield(); if (fegetround()!=FE_UPWARD) atomic_fetch_add(&fp_bad,1);} fesetround(FE_TONEAREST); atomic_fetch_add(&n, 1); }
static void plain(void *a) { (void)a; for (int i=0;i<1000;i++){ goc_yield(); if (fegetround()!=FE_TONEAREST) atomic_fetch_add(&fp_bad,1);} atomic_fetch_add(&n, 1); }
static const char *rec;
static void dorec(void *a){(void)a; const goc_panic_info *p = goc_recover(); rec = p ? p->msg : NULL;}
static void boom(void *a){(void)a; goc_defer(dorec, NULL); goc_panic("arm panic");}
GOC_MAIN(argc, argv) {
  (void)argc;(void)argv;
  for (int i = 1; i <= 1000; i++) goc_go(w, &i, sizeof i);
  while (atomic_load(&n) != 500500) goc_sleep(1000000);
  atomic_store(&n, 0);
  goc_go(rounder, NULL, 0); goc_go(plain, NULL, 0);
  while (atomic_load(&n) != 2) goc_sleep(1000000);
  bool r = goc_call(boom, NULL);
  int64_t t0 = goc_nanotime(); goc_sleep(5000000);
  printf("ctx check: fp_bad=%d recovered=%d msg=%s slept_us=%lld\n", atomic_load(&fp_bad), r, rec, (long long)(goc_nanotime()-t0)/1000);
  return atomic_load(&fp_bad) != 0 || !r;
}
