// chan_buffered: producer/consumer over a channel of capacity 1024; ns per
// item. Same work as sync_bench chan_buffered.
package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	const n = 5000000
	c := make(chan int64, 1024)
	t0 := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			c <- i
		}
	}()
	var sum int64
	for i := 0; i < n; i++ {
		sum += <-c
	}
	ns := float64(time.Since(t0).Nanoseconds()) / n
	if sum != int64(n)*(n-1)/2 {
		panic("sum")
	}
	fmt.Printf("RESULT chan_buffered_p%d %.3f ns\n", runtime.GOMAXPROCS(0), ns)
}
