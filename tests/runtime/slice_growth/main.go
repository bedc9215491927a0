// Prints the capacities append picks (Go 1.19) for tests/runtime/slice_test.c:
// go run . > out.txt, then regenerate slice_growth_data.h from it.
package main

import "fmt"

func seq[T any](name string, limit int) {
	var s []T
	var zero T
	caps := []int{}
	last := -1
	for len(s) < limit {
		s = append(s, zero)
		if cap(s) != last {
			last = cap(s)
			caps = append(caps, last)
		}
	}
	fmt.Printf("%s:", name)
	for _, c := range caps {
		fmt.Printf(" %d", c)
	}
	fmt.Println()
}

// bulk appends of k elements at a time
func bulk[T any](name string, k, limit int) {
	var s []T
	add := make([]T, k)
	fmt.Printf("%s:", name)
	for len(s) < limit {
		s = append(s, add...)
		fmt.Printf(" %d", cap(s))
	}
	fmt.Println()
}

func main() {
	seq[byte]("1", 3000000)
	seq[[2]byte]("2", 1000000)
	seq[[4]byte]("4", 1000000)
	seq[int64]("8", 1000000)
	seq[[12]byte]("12", 1000000)
	seq[[24]byte]("24", 300000)
	seq[[40]byte]("40", 300000)
	seq[[100]byte]("100", 100000)
	seq[[3000]byte]("3000", 20000)
	bulk[int64]("b8x7", 7, 5000)
	bulk[int64]("b8x300", 300, 50000)
	bulk[[24]byte]("b24x1000", 1000, 40000)
}
