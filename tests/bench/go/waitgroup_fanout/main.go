// waitgroup_fanout: 1000 rounds of starting 1000 goroutines that each call
// Done, then Wait; total ms. Same work as sync_bench waitgroup_fanout.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	t0 := time.Now()
	for r := 0; r < 1000; r++ {
		var wg sync.WaitGroup
		wg.Add(1000)
		for i := 0; i < 1000; i++ {
			go wg.Done()
		}
		wg.Wait()
	}
	fmt.Printf("RESULT waitgroup_fanout_p%d %.3f ms\n", runtime.GOMAXPROCS(0), float64(time.Since(t0).Nanoseconds())/1e6)
}
