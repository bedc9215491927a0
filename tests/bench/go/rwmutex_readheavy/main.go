// rwmutex_readheavy: 64 goroutines, 4,000,000 operations in all, 99% RLock
// reads and 1% Lock writes; ns per operation. Same work as sync_bench.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	const g = 64
	const iters = 4000000 / g
	var rw sync.RWMutex
	var data [8]int64
	var wg sync.WaitGroup
	wg.Add(g)
	t0 := time.Now()
	for i := 0; i < g; i++ {
		go func() {
			var sink int64
			for j := 0; j < iters; j++ {
				if j%100 == 0 {
					rw.Lock()
					data[j%8]++
					rw.Unlock()
				} else {
					rw.RLock()
					sink += data[j%8]
					rw.RUnlock()
				}
			}
			if sink == -1 {
				panic("sink")
			}
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Printf("RESULT rwmutex_readheavy_p%d %.3f ns\n", runtime.GOMAXPROCS(0), float64(time.Since(t0).Nanoseconds())/(iters*g))
}
