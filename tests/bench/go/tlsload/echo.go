// Throughput mode: framed echo over TLS, the same frames as loadgen's raw
// mode (a 4-byte big-endian length, then the payload).
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
)

const maxPayload = 4096

// request appends frame number seq of size bytes to out: its first 8
// payload bytes are seq, the rest letters that move with it.
func request(out []byte, seq uint64, size int) []byte {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(size))
	out = append(out, hdr[:]...)
	for i := 0; i < size; i++ {
		if i < 8 {
			out = append(out, byte(seq>>(8*i)))
		} else {
			out = append(out, byte('a'+(seq+uint64(i))%26))
		}
	}
	return out
}

// echoConn keeps o.inflight frames in flight on tc until the process ends,
// adding each checked reply to count. Returns only on failure.
func echoConn(o *options, tc *tls.Conn, count *atomic.Uint64) error {
	var sent, recv uint64
	out := make([]byte, 0, o.inflight*(4+o.size))
	in := make([]byte, 64*1024)
	want := make([]byte, 0, 4+o.size)
	have := 0
	for {
		out = out[:0]
		for ; sent-recv < uint64(o.inflight); sent++ {
			out = request(out, sent, o.size)
		}
		if len(out) > 0 {
			if _, err := tc.Write(out); err != nil {
				return err
			}
		}
		n, err := tc.Read(in[have:])
		if err != nil {
			return err
		}
		have += n
		off, got := 0, uint64(0)
		for have-off >= 4 {
			size := int(binary.BigEndian.Uint32(in[off:]))
			if size > maxPayload {
				return fmt.Errorf("reply frame of %d bytes", size)
			}
			if have-off < 4+size {
				break
			}
			if recv >= sent {
				return fmt.Errorf("a reply nobody asked for")
			}
			want = request(want[:0], recv, o.size)
			if !bytes.Equal(in[off:off+4+size], want) {
				return fmt.Errorf("reply %d differs from the request (%d bytes)", recv, size)
			}
			recv++
			got++
			off += 4 + size
		}
		copy(in, in[off:have])
		have -= off
		count.Add(got)
	}
}

func throughput(o *options, cfg *tls.Config) {
	conns := make([]*tls.Conn, o.conns)
	tc, desc, err := describeSession(o.addr, cfg)
	if err != nil {
		die("%s: connection 0: %v", o.name, err)
	}
	conns[0] = tc
	for i := 1; i < len(conns); i++ {
		if conns[i], err = dial(o.addr, cfg, nil); err != nil {
			die("%s: connection %d: %v", o.name, i, err)
		}
	}
	fmt.Printf("# %s: %s\n", o.name, desc)
	var count atomic.Uint64
	for _, tc := range conns {
		go func(tc *tls.Conn) {
			if err := echoConn(o, tc, &count); err != nil {
				die("%s: %v", o.name, err)
			}
		}(tc)
	}
	rate, cpuUs := measure(o, &count, "frame")
	fmt.Printf("RESULT %s %.3f frames/s%s\n", o.name, rate, cpuField(cpuUs))
	os.Stdout.Sync()
	os.Exit(0)
}
