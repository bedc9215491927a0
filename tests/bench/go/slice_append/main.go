// slice_append: ms for 10,000,000 single int64 appends to a nil slice,
// best of 3 rounds, as tests/bench/mem_bench.c does.
package main

import (
	"fmt"
	"time"
)

var sink int64

func round() float64 {
	const n = 10000000
	t0 := time.Now()
	var s []int64
	for i := int64(0); i < n; i++ {
		s = append(s, i)
	}
	ms := float64(time.Since(t0).Nanoseconds()) / 1e6
	sink = s[n-1]
	return ms
}

func main() {
	best := 0.0
	for r := 0; r < 3; r++ {
		if v := round(); r == 0 || v < best {
			best = v
		}
	}
	fmt.Printf("RESULT slice_append %.3f ms\n", best)
}
