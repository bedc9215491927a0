// spawn_join: 1,000,000 empty goroutines started and waited for (ns each),
// best of 3 rounds, as tests/bench/core_bench.c does.
package main

import (
	"fmt"
	"sync"
	"time"
)

func main() {
	const n = 1000000
	best := 0.0
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		wg.Add(n)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		ns := float64(time.Since(t0).Nanoseconds()) / n
		if round == 0 || ns < best {
			best = ns
		}
	}
	fmt.Printf("RESULT spawn_join %.3f ns\n", best)
}
