// Handshake mode: full TLS handshakes per second.
package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// handshakeLoop dials, handshakes and closes until the process ends,
// counting each finished handshake. Returns only on failure.
func handshakeLoop(o *options, cfg *tls.Config, count *atomic.Uint64) error {
	for {
		tc, err := dial(o.addr, cfg, nil)
		if err != nil {
			return err
		}
		count.Add(1)
		tc.Close()
	}
}

func handshakes(o *options, cfg *tls.Config) {
	tc, desc, err := describeSession(o.addr, cfg)
	if err != nil {
		die("%s: %v", o.name, err)
	}
	tc.Close()
	fmt.Printf("# %s: %s, full handshakes (no session cache), %d at a time\n", o.name, desc, o.workers)
	var count atomic.Uint64
	for i := 0; i < o.workers; i++ {
		go func() {
			if err := handshakeLoop(o, cfg, &count); err != nil {
				die("%s: %v", o.name, err)
			}
		}()
	}
	rate, cpuUs := measure(o, &count, "handshake")
	fmt.Printf("RESULT %s %.3f handshakes/s(%s)%s\n", o.name, rate, strings.ReplaceAll(desc, " ", ","), cpuField(cpuUs))
	os.Stdout.Sync()
	os.Exit(0)
}
