// gc_pause_large_heap: a tree of 2^22-1 nodes of 32 bytes (128 MiB) live
// while 4 goroutines replace random subtrees of 63 nodes in their own
// quarter for the seconds given, as tests/bench/gc_bench.c's pause mode
// does: the longest and the 99th-percentile stop-the-world pause of the
// collector over the run (MemStats.PauseNs, read every 50 ms).
package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type tnode struct {
	l, r *tnode
	a, b uint64
}

const depth = 21
const subtree = 5

func build(d int, v uint64) *tnode {
	n := &tnode{a: v, b: ^v}
	if d > 0 {
		n.l = build(d-1, 2*v)
		n.r = build(d-1, 2*v+1)
	}
	return n
}

var stop int32
var replaced int64

func worker(top *tnode, seed uint64, wg *sync.WaitGroup) {
	rnd := seed | 1
	n := int64(0)
	for atomic.LoadInt32(&stop) == 0 {
		t := top
		for d := depth - 2; d > subtree+1; d-- {
			rnd ^= rnd << 13
			rnd ^= rnd >> 7
			rnd ^= rnd << 17
			if rnd&1 != 0 {
				t = t.l
			} else {
				t = t.r
			}
		}
		if rnd&2 != 0 {
			t.l = build(subtree, rnd)
		} else {
			t.r = build(subtree, rnd)
		}
		n++
	}
	atomic.AddInt64(&replaced, n)
	wg.Done()
}

func main() {
	seconds := 10.0
	if len(os.Args) > 1 {
		seconds, _ = strconv.ParseFloat(os.Args[1], 64)
	}
	root := build(depth, 1)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	seen := ms.NumGC
	var pauses []float64
	sample := func() {
		runtime.ReadMemStats(&ms)
		for c := seen + 1; c <= ms.NumGC; c++ {
			if ms.NumGC-c < 256 {
				pauses = append(pauses, float64(ms.PauseNs[(c+255)%256])/1e6)
			}
		}
		seen = ms.NumGC
	}
	var wg sync.WaitGroup
	quarters := []*tnode{root.l.l, root.l.r, root.r.l, root.r.r}
	for i, q := range quarters {
		wg.Add(1)
		go worker(q, uint64(i+1)*0x9e3779b97f4a7c15, &wg)
	}
	t0 := time.Now()
	for time.Since(t0).Seconds() < seconds {
		time.Sleep(50 * time.Millisecond)
		sample()
	}
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	sample()
	sort.Float64s(pauses)
	max, p99 := 0.0, 0.0
	if n := len(pauses); n > 0 {
		max = pauses[n-1]
		p99 = pauses[int(math.Ceil(0.99*float64(n)))-1]
	}
	fmt.Fprintf(os.Stderr, "# %d pauses, %d subtrees replaced\n", len(pauses), replaced)
	fmt.Printf("RESULT gc_pause_max %.3f ms\n", max)
	fmt.Printf("RESULT gc_pause_p99 %.3f ms\n", p99)
	runtime.KeepAlive(root)
}
