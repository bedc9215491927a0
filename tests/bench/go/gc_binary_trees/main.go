// gc_binary_trees: the benchmarks game's binary-trees at the depth given
// (20 in scripts/bench), the depths in parallel goroutines, as
// tests/bench/gc_bench.c does: total ms, and peak RSS (VmHWM) in MB.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type Node struct{ left, right *Node }

func bottomUp(depth int) *Node {
	if depth <= 0 {
		return &Node{}
	}
	return &Node{bottomUp(depth - 1), bottomUp(depth - 1)}
}

func (n *Node) check() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(s.Text())[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func main() {
	maxDepth := 20
	if len(os.Args) > 1 {
		maxDepth, _ = strconv.Atoi(os.Args[1])
	}
	t0 := time.Now()
	fmt.Printf("stretch tree of depth %d\t check: %d\n", maxDepth+1, bottomUp(maxDepth+1).check())
	longLived := bottomUp(maxDepth)
	lines := make([]string, maxDepth+1)
	var wg sync.WaitGroup
	for d := 4; d <= maxDepth; d += 2 {
		wg.Add(1)
		go func(depth int) {
			iterations := 1 << uint(maxDepth-depth+4)
			check := 0
			for i := 0; i < iterations; i++ {
				check += bottomUp(depth).check()
			}
			lines[depth] = fmt.Sprintf("%d\t trees of depth %d\t check: %d", iterations, depth, check)
			wg.Done()
		}(d)
	}
	wg.Wait()
	for d := 4; d <= maxDepth; d += 2 {
		fmt.Println(lines[d])
	}
	fmt.Printf("long lived tree of depth %d\t check: %d\n", maxDepth, longLived.check())
	fmt.Printf("RESULT gc_binary_trees %.3f ms\n", float64(time.Since(t0).Nanoseconds())/1e6)
	fmt.Printf("RESULT gc_peak_rss %.3f MB\n", peakRSS())
}
