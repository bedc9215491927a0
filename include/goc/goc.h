/* goc.h: the whole runtime. Include this, or only the parts you use. */
#ifndef GOC_GOC_H
#define GOC_GOC_H

#include "goc/sched.h"
#include "goc/chan.h"
#include "goc/sync.h"
#include "goc/context.h"
#include "goc/time.h"
#include "goc/net.h"
#include "goc/malloc.h"
#include "goc/slice.h"
#include "goc/map.h"
#include "goc/gc.h"
#include "goc/pprof.h"
#include "goc/profrate.h"

#endif
