// yield_pingpong: two goroutines calling runtime.Gosched in a loop on one P
// (run with GOMAXPROCS=1): ns per switch.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	const rounds = 5000000
	var wg sync.WaitGroup
	wg.Add(2)
	t0 := time.Now()
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < rounds; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Printf("RESULT yield_pingpong %.3f ns\n", float64(time.Since(t0).Nanoseconds())/(2.0*rounds))
}
