/* goc/api.h: what every public header shares.
 *
 * GOC_API marks the functions and data libgoc exports. The library is built
 * with -fvisibility=hidden, so a shared libgoc exports exactly what the
 * headers under include/goc/ declare, and nothing of its internals
 * (tests/runtime/exports_test.py checks both directions).
 *
 * GOC_NORETURN is C11's _Noreturn, or C++11's [[noreturn]], so the headers
 * compile in both languages. GOC_UNUSED marks a parameter that may go
 * unused (GOC_MAIN's).
 */
#ifndef GOC_API_H
#define GOC_API_H

#if defined(__GNUC__)
#define GOC_API __attribute__((visibility("default")))
#define GOC_UNUSED __attribute__((unused))
#else
#define GOC_API
#define GOC_UNUSED
#endif

#if defined(__cplusplus)
#define GOC_NORETURN [[noreturn]]
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define GOC_NORETURN _Noreturn
#elif defined(__GNUC__)
#define GOC_NORETURN __attribute__((noreturn))
#else
#define GOC_NORETURN
#endif

#endif
