// map_int: ms to insert 1,000,000 int64 keys into an empty map and look
// each one up again, best of 3 rounds, as tests/bench/mem_bench.c does.
package main

import (
	"fmt"
	"time"
)

var sink int64

func round() float64 {
	const n = 1000000
	t0 := time.Now()
	m := make(map[int64]int64)
	for i := int64(0); i < n; i++ {
		m[i*2654435761] = i
	}
	var sum int64
	for i := int64(0); i < n; i++ {
		sum += m[i*2654435761]
	}
	ms := float64(time.Since(t0).Nanoseconds()) / 1e6
	sink = sum
	return ms
}

func main() {
	best := 0.0
	for r := 0; r < 3; r++ {
		if v := round(); r == 0 || v < best {
			best = v
		}
	}
	fmt.Printf("RESULT map_int %.3f ms\n", best)
}
