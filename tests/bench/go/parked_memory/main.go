// parked_memory: resident bytes per goroutine with 1,000,000 parked on a
// channel receive.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func rss() int64 {
	var pages, res int64
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0
	}
	defer f.Close()
	fmt.Fscan(f, &pages, &res)
	return res * int64(os.Getpagesize())
}

func main() {
	const n = 1000000
	gate := make(chan struct{})
	var parked, done sync.WaitGroup
	parked.Add(n)
	done.Add(n)
	runtime.GC()
	before := rss()
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-gate
			done.Done()
		}()
	}
	parked.Wait()
	time.Sleep(10 * time.Millisecond)
	after := rss()
	fmt.Printf("RESULT parked_memory %.3f bytes\n", float64(after-before)/n)
	close(gate)
	done.Wait()
}
