// wsload: the WebSocket load client of the web benchmarks (issue 6), the
// same program against every server (ours, the Go peer, the Node peer).
//
//	wsload -name NAME -addr HOST:PORT -mode broadcast -clients C -msgs N
//
// C receivers join room "bench"; then one sender joins it, sends a warm-up
// message and waits until every receiver has it (so the join and presence
// traffic is over), then sends N messages "b<seq>". The time runs from the
// first of them until every receiver holds all N; the result is C*N / time
// in msgs/s. Every receiver checks that it got 0..N-1 in order, with no
// gap and no duplicate; any loss, disconnection or a 50 s timeout is an
// error (exit 1, no RESULT line). The sender keeps at most -window
// messages ahead of the slowest receiver, so no server outbox (ours 1024,
// the Go peer's 256) overflows because of the client.
//
//	wsload -name NAME -addr HOST:PORT -mode idle -conns N -pid PID
//
// Reads the server's VmRSS, opens N WebSocket connections (each makes one
// `echo` call), waits 1 s and reads VmRSS again; prints the growth per
// connection in bytes.
//
//	wsload -name NAME -addrs A,B -mode cluster -clients C -msgs N
//
// Several servers, one chat (issue 15): C receivers split between the
// servers (receiver i on server i mod len) join room "bench"; one sender
// per server sends N messages "s<k>:<seq>", all at once. The result is the
// deliveries per second, C * senders * N / time. Each receiver checks
// every sender's messages came 0..N-1 in order, and the ids only grew
// (one order for the room, whoever sent). Each sender keeps at most
// -window messages ahead of the slowest receiver's count of its messages.
//
//	wsload -name NAME -addrs A,B -mode latency -rate R -seconds S [-senders K]
//
// K senders (default 20, as a chat's load comes from many people) on the
// first server send R messages per second between them, each paced at
// R/K, for 1 + S seconds; 10 receivers on the last server time each
// message from its chat.send to its arrival (and check each sender's come
// in order). Prints RESULT NAME_p50 and NAME_p99 in milliseconds, over the
// last S seconds (the first one warms up).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

var (
	name    = flag.String("name", "ws_broadcast", "RESULT name")
	addr    = flag.String("addr", "", "server HOST:PORT")
	mode    = flag.String("mode", "broadcast", "broadcast or idle")
	clients = flag.Int("clients", 100, "broadcast: receivers")
	msgs    = flag.Int("msgs", 10000, "broadcast: messages sent")
	window  = flag.Int("window", 128, "broadcast: messages sent ahead of the slowest receiver")
	conns   = flag.Int("conns", 10000, "idle: connections")
	pid     = flag.Int("pid", 0, "idle: the server's process id")
	addrs   = flag.String("addrs", "", "cluster, latency: the servers, HOST:PORT,HOST:PORT")
	rate    = flag.Int("rate", 2000, "latency: messages per second")
	seconds = flag.Int("seconds", 5, "latency: seconds measured (after one of warm-up)")
	nsend   = flag.Int("senders", 20, "latency: sender connections sharing the rate")
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "wsload: "+format+"\n", a...)
	os.Exit(1)
}

func dial() *websocket.Conn {
	return dialTo(*addr)
}

func dialTo(a string) *websocket.Conn {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}
	var err error
	for try := 0; try < 5; try++ {
		var c *websocket.Conn
		c, _, err = d.Dial("ws://"+a+"/ws", nil)
		if err == nil {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	die("dial: %v", err)
	return nil
}

// call sends one request and reads until its reply (id), skipping pushes.
func call(c *websocket.Conn, id int, method, params string) []byte {
	req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"%s","params":%s}`, id, method, params)
	if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		die("%s: %v", method, err)
	}
	idKey := []byte(fmt.Sprintf(`"id":%d`, id))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			die("%s: %v", method, err)
		}
		if bytes.Contains(b, []byte(`"error"`)) && bytes.Contains(b, idKey) {
			die("%s: %s", method, b)
		}
		if bytes.Contains(b, idKey) && !bytes.Contains(b, []byte(`"method"`)) {
			return b
		}
	}
}

var (
	textKey = []byte(`"text"`)
	msgKey  = []byte(`"chat.message"`)
)

// seqOf: the sequence number of a chat.message push: -1 warm-up, -2 other
// (presence, replies), -3 malformed.
func seqOf(b []byte) int {
	if !bytes.Contains(b, msgKey) {
		return -2
	}
	i := bytes.Index(b, textKey)
	if i < 0 {
		return -3
	}
	rest := bytes.TrimLeft(b[i+len(textKey):], " :")
	if len(rest) < 2 || rest[0] != '"' {
		return -3
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return -3
	}
	t := string(rest[1 : 1+end])
	if t == "w" {
		return -1
	}
	if !strings.HasPrefix(t, "b") {
		return -3
	}
	n, err := strconv.Atoi(t[1:])
	if err != nil {
		return -3
	}
	return n
}

type receiver struct {
	conn   *websocket.Conn
	warm   int32 // 1 once the warm-up message came
	got    int64 // messages 0..got-1 received, in order
	failed string
}

func (r *receiver) pump(n int, warm, done *sync.WaitGroup) {
	for r.got < int64(n) {
		_, b, err := r.conn.ReadMessage()
		if err != nil {
			die("a receiver: read after %d messages: %v", r.got, err)
		}
		switch s := seqOf(b); {
		case s == -1:
			atomic.StoreInt32(&r.warm, 1)
			warm.Done()
		case s == -2:
		case s == -3:
			r.failed = fmt.Sprintf("malformed push: %s", b)
		case int64(s) != r.got:
			r.failed = fmt.Sprintf("expected message %d, got %d", r.got, s)
		default:
			atomic.AddInt64(&r.got, 1)
		}
		if r.failed != "" {
			die("a receiver: %s", r.failed)
		}
	}
	done.Done()
}

func broadcast() {
	rs := make([]*receiver, *clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range rs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			c := dial()
			call(c, 1, "chat.join", fmt.Sprintf(`{"room":"bench","nick":"r%d"}`, i))
			rs[i] = &receiver{conn: c}
		}(i)
	}
	wg.Wait()
	var warm, done sync.WaitGroup
	warm.Add(len(rs))
	done.Add(len(rs))
	for _, r := range rs {
		go r.pump(*msgs, &warm, &done)
	}
	s := dial()
	call(s, 1, "chat.join", `{"room":"bench","nick":"sender"}`)
	go func() { // the sender's own copies and replies
		for {
			if _, _, err := s.ReadMessage(); err != nil {
				return
			}
		}
	}()
	send := func(text string) {
		req := `{"jsonrpc":"2.0","method":"chat.send","id":2,"params":{"room":"bench","text":"` + text + `"}}`
		if err := s.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			die("send: %v", err)
		}
	}
	waitAll := func(wg *sync.WaitGroup, what string) {
		ch := make(chan struct{})
		go func() { wg.Wait(); close(ch) }()
		select {
		case <-ch:
		case <-time.After(50 * time.Second):
			lost := 0
			for _, r := range rs {
				lost += *msgs - int(atomic.LoadInt64(&r.got))
			}
			die("timeout waiting for %s: %d deliveries missing", what, lost)
		}
	}
	send("w")
	waitAll(&warm, "the warm-up message")
	start := time.Now()
	low := int64(0) // a lower bound on every receiver's count
	for i := 0; i < *msgs; i++ {
		for int64(i)-low >= int64(*window) {
			low = int64(*msgs)
			for _, r := range rs {
				if g := atomic.LoadInt64(&r.got); g < low {
					low = g
				}
			}
			if time.Since(start) > 50*time.Second {
				die("timeout: the slowest receiver is stuck at %d of %d messages", low, *msgs)
			}
			if int64(i)-low >= int64(*window) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		send("b" + strconv.Itoa(i))
	}
	waitAll(&done, "the messages")
	el := time.Since(start).Seconds()
	for i, r := range rs {
		if r.failed != "" || r.got != int64(*msgs) {
			die("receiver %d: got %d of %d: %s", i, r.got, *msgs, r.failed)
		}
	}
	total := float64(len(rs)) * float64(*msgs)
	fmt.Fprintf(os.Stderr, "wsload: %d receivers x %d messages in %.3f s, none lost\n", len(rs), *msgs, el)
	fmt.Printf("RESULT %s %.3f msgs/s\n", *name, total/el)
}

func vmrss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		die("%v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb * 1024
		}
	}
	die("no VmRSS for %d", pid)
	return 0
}

func idle() {
	time.Sleep(300 * time.Millisecond)
	before := vmrss(*pid)
	cs := make([]*websocket.Conn, *conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			c := dial()
			call(c, 1, "echo", `{"n":1}`)
			cs[i] = c
		}(i)
	}
	wg.Wait()
	time.Sleep(time.Second)
	after := vmrss(*pid)
	fmt.Fprintf(os.Stderr, "wsload: %d idle connections: server VmRSS %d -> %d bytes\n", *conns, before, after)
	fmt.Printf("RESULT %s %.3f bytes\n", *name, float64(after-before)/float64(*conns))
	for _, c := range cs {
		c.Close()
	}
}

func main() {
	flag.Parse()
	// a run is bounded: die (and let wsbench.sh stop the server) before the
	// harness's 60 s timeout would kill the script and orphan the server
	time.AfterFunc(55*time.Second, func() { die("timeout: the run took over 55 s") })
	if *addr == "" && *addrs == "" {
		die("usage: wsload -addr HOST:PORT [-mode broadcast|idle] ... | -addrs A,B -mode cluster|latency ...")
	}
	switch *mode {
	case "broadcast":
		broadcast()
	case "cluster":
		cluster()
	case "latency":
		latency()
	case "idle":
		if *pid <= 0 {
			die("idle mode needs -pid")
		}
		idle()
	default:
		die("unknown mode %s", *mode)
	}
}
