// Resume mode: resumed TLS handshakes per second, the session resumed with
// the ticket the server issued on a worker's first, full handshake.
package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// resumeLoop makes one full handshake for a ticket, then dials, resumes
// and closes until the process ends, counting each resumed handshake. A
// handshake that does not resume is a failure: the server dropped or
// refused its ticket. Returns only on failure.
func resumeLoop(o *options, base *tls.Config, count *atomic.Uint64) error {
	cfg := base.Clone()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	tc, err := dial(o.addr, cfg, nil)
	if err != nil {
		return err
	}
	tc.Close()
	for {
		tc, err := dial(o.addr, cfg, nil)
		if err != nil {
			return err
		}
		resumed := tc.ConnectionState().DidResume
		tc.Close()
		if !resumed {
			return errors.New("a handshake was not resumed")
		}
		count.Add(1)
	}
}

func resumes(o *options, cfg *tls.Config) {
	tc, desc, err := describeSession(o.addr, cfg)
	if err != nil {
		die("%s: %v", o.name, err)
	}
	tc.Close()
	fmt.Printf("# %s: %s, handshakes resumed with session tickets, %d at a time\n", o.name, desc, o.workers)
	var count atomic.Uint64
	for i := 0; i < o.workers; i++ {
		go func() {
			if err := resumeLoop(o, cfg, &count); err != nil {
				die("%s: %v", o.name, err)
			}
		}()
	}
	rate := measure(o, &count, "resumed handshake")
	fmt.Printf("RESULT %s %.3f handshakes/s(%s)\n", o.name, rate, strings.ReplaceAll(desc, " ", ","))
	os.Stdout.Sync()
	os.Exit(0)
}
