// sleep_100k: 100,000 goroutines each sleeping 1 ms once: total wall time
// in ms, best of 3 rounds.
package main

import (
	"fmt"
	"sync"
	"time"
)

func main() {
	const n = 100000
	best := 0.0
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		wg.Add(n)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			go func() {
				time.Sleep(time.Millisecond)
				wg.Done()
			}()
		}
		wg.Wait()
		ms := float64(time.Since(t0).Nanoseconds()) / 1e6
		if round == 0 || ms < best {
			best = ms
		}
	}
	fmt.Printf("RESULT sleep_100k %.3f ms\n", best)
}
