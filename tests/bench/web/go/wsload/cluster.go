// cluster.go: wsload's modes for several servers on one Redis (issue 15):
// cluster (deliveries per second with a sender on every server) and
// latency (chat.send on one server to delivery on another, at a steady
// rate). See the top of main.go.
package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

var idKey = []byte(`"id":`)

// idOf: the message id of a chat.message push, -1 if none.
func idOf(b []byte) int64 {
	i := bytes.Index(b, []byte(`"params"`))
	if i < 0 {
		return -1
	}
	j := bytes.Index(b[i:], idKey)
	if j < 0 {
		return -1
	}
	rest := bytes.TrimLeft(b[i+j+len(idKey):], " ")
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	v, err := strconv.ParseInt(string(rest[:n]), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// textOf: the text of a chat.message push ("" if none).
func textOf(b []byte) string {
	if !bytes.Contains(b, msgKey) {
		return ""
	}
	i := bytes.Index(b, textKey)
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(b[i+len(textKey):], " :")
	if len(rest) < 2 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return ""
	}
	return string(rest[1 : 1+end])
}

func servers() []string {
	as := strings.Split(*addrs, ",")
	if len(as) < 1 || as[0] == "" {
		die("-addrs HOST:PORT,HOST:PORT needed")
	}
	return as
}

type cReceiver struct {
	conn   *websocket.Conn
	warm   int32   // warm-up messages received
	got    []int64 // per sender: messages 0..got-1 received, in order
	lastID int64
}

func (r *cReceiver) pump(senders, n int, warm, done *sync.WaitGroup) {
	total := 0
	for total < senders*n {
		_, b, err := r.conn.ReadMessage()
		if err != nil {
			die("a receiver: read after %d messages: %v", total, err)
		}
		t := textOf(b)
		if t == "" {
			continue
		}
		id := idOf(b)
		if id <= r.lastID {
			die("a receiver: id %d after %d", id, r.lastID)
		}
		r.lastID = id
		if t == "w" {
			if atomic.AddInt32(&r.warm, 1) == int32(senders) {
				warm.Done()
			}
			continue
		}
		var k, seq int
		if _, err := fmt.Sscanf(t, "s%d:%d", &k, &seq); err != nil || k < 0 || k >= senders {
			die("a receiver: malformed message %q", t)
		}
		if int64(seq) != atomic.LoadInt64(&r.got[k]) {
			die("a receiver: from sender %d expected %d, got %d", k, r.got[k], seq)
		}
		atomic.AddInt64(&r.got[k], 1)
		total++
	}
	done.Done()
}

func joinAll(as []string, c int, room string) []*websocket.Conn {
	cs := make([]*websocket.Conn, c)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			cs[i] = dialTo(as[i%len(as)])
			call(cs[i], 1, "chat.join", fmt.Sprintf(`{"room":"%s","nick":"r%d"}`, room, i))
		}(i)
	}
	wg.Wait()
	return cs
}

// drain reads a sender's own copies and replies, forever.
func drain(c *websocket.Conn) {
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

func sendText(c *websocket.Conn, room, text string) {
	req := `{"jsonrpc":"2.0","method":"chat.send","id":2,"params":{"room":"` + room + `","text":"` + text + `"}}`
	if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		die("send: %v", err)
	}
}

func cluster() {
	as := servers()
	conns := joinAll(as, *clients, "bench")
	rs := make([]*cReceiver, len(conns))
	senders := len(as)
	var warm, done sync.WaitGroup
	warm.Add(len(rs))
	done.Add(len(rs))
	for i, c := range conns {
		rs[i] = &cReceiver{conn: c, got: make([]int64, senders)}
		go rs[i].pump(senders, *msgs, &warm, &done)
	}
	ss := make([]*websocket.Conn, senders)
	for k := range ss {
		ss[k] = dialTo(as[k])
		call(ss[k], 1, "chat.join", fmt.Sprintf(`{"room":"bench","nick":"s%d"}`, k))
		go drain(ss[k])
	}
	wait := func(wg *sync.WaitGroup, what string) {
		ch := make(chan struct{})
		go func() { wg.Wait(); close(ch) }()
		select {
		case <-ch:
		case <-time.After(50 * time.Second):
			die("timeout waiting for %s", what)
		}
	}
	for _, s := range ss {
		sendText(s, "bench", "w")
	}
	wait(&warm, "the warm-up messages")
	start := time.Now()
	var sent sync.WaitGroup
	for k := range ss {
		sent.Add(1)
		go func(k int) {
			defer sent.Done()
			low := int64(0)
			for i := 0; i < *msgs; i++ {
				for int64(i)-low >= int64(*window) {
					low = int64(*msgs)
					for _, r := range rs {
						if g := atomic.LoadInt64(&r.got[k]); g < low {
							low = g
						}
					}
					if time.Since(start) > 50*time.Second {
						die("timeout: the slowest receiver is stuck at %d", low)
					}
					if int64(i)-low >= int64(*window) {
						time.Sleep(100 * time.Microsecond)
					}
				}
				sendText(ss[k], "bench", "s"+strconv.Itoa(k)+":"+strconv.Itoa(i))
			}
		}(k)
	}
	sent.Wait()
	wait(&done, "the messages")
	el := time.Since(start).Seconds()
	total := float64(len(rs)) * float64(senders) * float64(*msgs)
	fmt.Fprintf(os.Stderr, "wsload: %d receivers on %d servers x %d senders x %d messages in %.3f s, none lost, ids in order\n",
		len(rs), len(as), senders, *msgs, el)
	fmt.Printf("RESULT %s %.3f msgs/s\n", *name, total/el)
}

func latency() {
	as := servers()
	to := as[len(as)-1]
	const nrecv = 10
	k := *nsend
	conns := joinAll([]string{to}, nrecv, "lat")
	each := *rate * (1 + *seconds) / k // per sender
	total := each * k
	sentAt := make([][]int64, k) // ns since start, by sender and sequence
	for i := range sentAt {
		sentAt[i] = make([]int64, each)
	}
	lat := make([][]float64, nrecv)
	start := time.Now()
	warm := int64(time.Second)
	var done sync.WaitGroup
	for i, c := range conns {
		done.Add(1)
		go func(i int, c *websocket.Conn) {
			defer done.Done()
			next := make([]int, k)
			for got := 0; got < total; {
				_, b, err := c.ReadMessage()
				if err != nil {
					die("a receiver: %v", err)
				}
				now := time.Since(start).Nanoseconds()
				t := textOf(b)
				if t == "" || t[0] != 't' {
					continue
				}
				var from, seq int
				if _, err := fmt.Sscanf(t, "t%d:%d", &from, &seq); err != nil || from < 0 ||
					from >= k || seq != next[from] {
					die("a receiver: unexpected %q", t)
				}
				next[from]++
				got++
				if sent := atomic.LoadInt64(&sentAt[from][seq]); sent >= warm {
					lat[i] = append(lat[i], float64(now-sent)/1e6)
				}
			}
		}(i, c)
	}
	ss := make([]*websocket.Conn, k)
	for j := range ss {
		ss[j] = dialTo(as[0])
		call(ss[j], 1, "chat.join", fmt.Sprintf(`{"room":"lat","nick":"s%d"}`, j))
		go drain(ss[j])
	}
	base := time.Since(start) // the receivers' clock is start's too
	warm += int64(base)
	period := time.Second * time.Duration(k) / time.Duration(*rate)
	var sent sync.WaitGroup
	for j := range ss {
		sent.Add(1)
		go func(j int) { // each sender at rate/k, the senders spread over one period
			defer sent.Done()
			off := base + period*time.Duration(j)/time.Duration(k)
			for i := 0; i < each; i++ {
				if d := off + time.Duration(i)*period - time.Since(start); d > 0 {
					time.Sleep(d)
				}
				atomic.StoreInt64(&sentAt[j][i], time.Since(start).Nanoseconds())
				sendText(ss[j], "lat", "t"+strconv.Itoa(j)+":"+strconv.Itoa(i))
			}
		}(j)
	}
	sent.Wait()
	ch := make(chan struct{})
	go func() { done.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		die("timeout waiting for the last messages")
	}
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Float64s(all)
	pct := func(p float64) float64 { return all[int(p*float64(len(all)-1))] }
	fmt.Fprintf(os.Stderr, "wsload: %d messages at %d/s from %d senders, %d receivers: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
		total, *rate, k, nrecv, pct(0.5), pct(0.99), all[len(all)-1])
	fmt.Printf("RESULT %s_p50 %.3f ms\n", *name, pct(0.5))
	fmt.Printf("RESULT %s_p99 %.3f ms\n", *name, pct(0.99))
}
