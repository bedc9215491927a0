// select4: one receiver selecting over 4 channels (capacity 128), each fed by
// its own producer; ns per received item. Same work as sync_bench select4.
package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	const per = 500000
	var cs [4]chan int64
	for i := range cs {
		cs[i] = make(chan int64, 128)
		go func(c chan int64) {
			for j := int64(0); j < per; j++ {
				c <- j
			}
		}(cs[i])
	}
	t0 := time.Now()
	for i := 0; i < 4*per; i++ {
		select {
		case <-cs[0]:
		case <-cs[1]:
		case <-cs[2]:
		case <-cs[3]:
		}
	}
	fmt.Printf("RESULT select4_p%d %.3f ns\n", runtime.GOMAXPROCS(0), float64(time.Since(t0).Nanoseconds())/(4*per))
}
