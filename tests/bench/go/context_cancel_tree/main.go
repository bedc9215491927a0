// context_cancel_tree: build a root with 10,000 cancelable children (each
// Done() called), cancel the root, check and cancel every child: us per
// tree (50 rounds). Then a chain of 100 nested contexts the same way: us
// per chain (5000 rounds). Same work as sync_bench context_cancel_tree.
package main

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

func main() {
	const n, depth, rounds = 10000, 100, 50
	p := runtime.GOMAXPROCS(0)
	kids := make([]context.CancelFunc, n)
	ctxs := make([]context.Context, n)
	t0 := time.Now()
	for r := 0; r < rounds; r++ {
		root, cancel := context.WithCancel(context.Background())
		for i := 0; i < n; i++ {
			ctxs[i], kids[i] = context.WithCancel(root)
			ctxs[i].Done()
		}
		cancel()
		for i := 0; i < n; i++ {
			if ctxs[i].Err() == nil {
				panic("not canceled")
			}
			kids[i]()
		}
	}
	fmt.Printf("RESULT context_cancel_tree_p%d %.3f us\n", p, float64(time.Since(t0).Nanoseconds())/rounds/1000)
	t0 = time.Now()
	for r := 0; r < rounds*100; r++ {
		root, cancel := context.WithCancel(context.Background())
		cur := root
		for i := 0; i < depth; i++ {
			cur, kids[i] = context.WithCancel(cur)
			cur.Done()
		}
		cancel()
		if cur.Err() == nil {
			panic("not canceled")
		}
		for i := depth - 1; i >= 0; i-- {
			kids[i]()
		}
	}
	fmt.Printf("RESULT context_cancel_chain_p%d %.3f us\n", p, float64(time.Since(t0).Nanoseconds())/(rounds*100)/1000)
}
