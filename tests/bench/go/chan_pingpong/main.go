// chan_pingpong: unbuffered round trips between two goroutines; ns per round
// trip. Same work as sync_bench chan_pingpong.
package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	const n = 1000000
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for i := 0; i < n; i++ {
			v := <-ping
			pong <- v
		}
	}()
	t0 := time.Now()
	v := int64(1)
	for i := 0; i < n; i++ {
		ping <- v
		v = <-pong
	}
	fmt.Printf("RESULT chan_pingpong_p%d %.3f ns\n", runtime.GOMAXPROCS(0), float64(time.Since(t0).Nanoseconds())/n)
}
