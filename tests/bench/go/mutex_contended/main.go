// mutex_contended: 4 and 64 goroutines incrementing a counter under one
// Mutex, 2,000,000 operations in all; ns per operation and the longest wait
// for Lock in us. Same work as sync_bench mutex_contended.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func run(g int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var counter int64
	var maxwait time.Duration
	iters := 2000000 / g
	wg.Add(g)
	t0 := time.Now()
	for i := 0; i < g; i++ {
		go func() {
			for j := 0; j < iters; j++ {
				s := time.Now()
				mu.Lock()
				if w := time.Since(s); w > maxwait {
					maxwait = w
				}
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	p := runtime.GOMAXPROCS(0)
	fmt.Printf("RESULT mutex_contended_%d_p%d %.3f ns\n", g, p, float64(time.Since(t0).Nanoseconds())/float64(iters*g))
	fmt.Printf("RESULT mutex_contended_%d_maxwait_p%d %.3f us\n", g, p, float64(maxwait.Nanoseconds())/1000)
}

func main() {
	run(4)
	run(64)
}
