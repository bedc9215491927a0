// tlsload: the load client of the TLS benchmarks (issue 7), the same for
// our server and the Go peer. crypto/tls, because a client on mbedtls would
// spend milliseconds of CPU per handshake on this 2-core machine (its P-256
// and X25519 are plain C) and so cap the faster server's figure.
//
//	tlsload -name NAME -addr HOST:PORT [-pid PID] [-ca CERT] [-conns N]
//	        [-inflight K] [-size B] [-duration S] [-warmup S]
//	tlsload -handshake|-resume -name NAME -addr HOST:PORT [-pid PID]
//	        [-ca CERT] [-workers W] [-duration S] [-warmup S]
//	(both: [-suites S1,S2] [-curves C1,C2] [-procs P])
//
// Every session is TLS 1.2 (our side's mbedtls 2.28 has no TLS 1.3) with the
// suites -suites offered, default ECDHE-ECDSA with AES-128-GCM alone, and
// the key-exchange curves -curves, default P-256 alone, so both servers do
// the same work: offered "X25519,P-256" as browsers do, Go takes X25519 and
// mbedtls P-256 (its own order wins), and mbedtls refuses a P-256
// certificate unless P-256 is offered. Which curve the server took is read
// off its ServerKeyExchange (sniff.go) and printed. -ca verifies the
// server's certificate against CERT for the host 127.0.0.1 (cheap: a
// self-signed certificate found in the pool is not signature-checked);
// without it nothing is verified beyond the handshake's own signature. No
// session cache: every handshake is full.
//
// Throughput mode (like loadgen's): N connections, handshaken first, each
// keeping K frames of B bytes in flight in a goroutine of its own (the
// requests topping it up leave in one write, so one TLS record); counts
// complete replies during -duration seconds after -warmup seconds, checking
// each is the very bytes sent (the payload carries the connection's
// sequence number). Prints "RESULT NAME <frames/s> frames/s".
//
// Handshake mode: W goroutines each loop dial, full handshake, close
// (close_notify, then FIN), counting finished handshakes in the window.
// Prints "RESULT NAME <handshakes/s> handshakes/s(VERSION,SUITE,CURVE)":
// the first session's negotiated parameters ride in the unit, so that
// scripts/bench's BENCH line shows them.
//
// Resume mode: the same, but each goroutine first makes one full
// handshake with a session cache of its own, then loops dial, handshake
// resuming that session with the server's ticket (RFC 5077), close,
// counting resumed handshakes; one that is not resumed is a failure.
//
// Every mode first prints "# NAME: VERSION SUITE CURVE" (what the first
// session negotiated) and, with -pid, the server's and this client's CPU
// use during the window on stderr. The client runs on one P by default
// (-procs), as loadgen uses one thread, leaving the server the other core.
// Any failed check or I/O error exits with status 1 and no RESULT line.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

type options struct {
	name, addr string
	pid        int
	conns      int     // throughput: connections
	inflight   int     // throughput: frames in flight per connection
	size       int     // throughput: payload bytes (>= 8)
	workers    int     // handshake: concurrent handshaking goroutines
	duration   float64 // seconds measured
	warmup     float64 // seconds before measuring
	handshake  bool    // handshake mode
	resume     bool    // resume mode
}

var curves = map[string]tls.CurveID{"X25519": tls.X25519, "P-256": tls.CurveP256, "P-384": tls.CurveP384}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlsload: "+format+"\n", a...)
	os.Exit(1)
}

// clientConfig is the one TLS configuration of every session.
func clientConfig(caFile, suiteList, curveList string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		MaxVersion: tls.VersionTLS12,
		ServerName: "127.0.0.1",
	}
	known := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	for _, name := range strings.Split(suiteList, ",") {
		id, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("unknown or insecure suite %s", name)
		}
		cfg.CipherSuites = append(cfg.CipherSuites, id)
	}
	for _, name := range strings.Split(curveList, ",") {
		id, ok := curves[name]
		if !ok {
			return nil, fmt.Errorf("unknown curve %s (X25519, P-256, P-384)", name)
		}
		cfg.CurvePreferences = append(cfg.CurvePreferences, id)
	}
	if caFile == "" {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + caFile)
	}
	return cfg, nil
}

// dial opens one TLS session within 10 s; sniff keeps the server's
// handshake flight for describe.
func dial(addr string, cfg *tls.Config, sniff *sniffConn) (*tls.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var tc *tls.Conn
	if sniff != nil {
		sniff.Conn = c
		tc = tls.Client(sniff, cfg)
	} else {
		tc = tls.Client(c, cfg)
	}
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// describeSession opens one sniffed session and names what it negotiated:
// "VERSION SUITE CURVE". The session is returned open.
func describeSession(addr string, cfg *tls.Config) (*tls.Conn, string, error) {
	var sniff sniffConn
	tc, err := dial(addr, cfg, &sniff)
	if err != nil {
		return nil, "", err
	}
	st := tc.ConnectionState()
	v := map[uint16]string{tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}[st.Version]
	if v == "" {
		v = fmt.Sprintf("0x%04x", st.Version)
	}
	return tc, v + " " + tls.CipherSuiteName(st.CipherSuite) + " " + keyExchange(sniff.seen), nil
}

// cpuSeconds is the user + system CPU time of process pid, 0 when unknown.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	var ut, st float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// measure lets the load run for the warm-up, then counts what count
// reports during the window; returns the rate per second.
func measure(o *options, count *atomic.Uint64, what string) float64 {
	time.Sleep(time.Duration(o.warmup * float64(time.Second)))
	srv0, self0 := cpuSeconds(o.pid), cpuSeconds(os.Getpid())
	n0, t0 := count.Load(), time.Now()
	time.Sleep(time.Duration(o.duration * float64(time.Second)))
	n1, el := count.Load(), time.Since(t0).Seconds()
	if n1 == n0 {
		die("%s: nothing completed in the window", o.name)
	}
	if o.pid > 0 {
		srv := cpuSeconds(o.pid) - srv0
		fmt.Fprintf(os.Stderr, "tlsload: %s: server CPU %.0f%% of a core, %.2f us per %s; tlsload CPU %.0f%%\n",
			o.name, 100*srv/el, 1e6*srv/float64(n1-n0), what, 100*(cpuSeconds(os.Getpid())-self0)/el)
	}
	return float64(n1-n0) / el
}

func main() {
	var o options
	var caFile, suiteList, curveList string
	var procs int
	flag.StringVar(&o.name, "name", "", "RESULT name")
	flag.StringVar(&o.addr, "addr", "", "server HOST:PORT")
	flag.IntVar(&o.pid, "pid", 0, "server process id, for its CPU use")
	flag.StringVar(&caFile, "ca", "", "verify the server against this PEM certificate")
	flag.StringVar(&suiteList, "suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "the cipher suites offered, in order")
	flag.StringVar(&curveList, "curves", "P-256", "the key-exchange curves offered, in order")
	flag.BoolVar(&o.handshake, "handshake", false, "count full handshakes instead of frames")
	flag.BoolVar(&o.resume, "resume", false, "count resumed handshakes instead of frames")
	flag.IntVar(&o.conns, "conns", 64, "connections (throughput)")
	flag.IntVar(&o.inflight, "inflight", 16, "frames in flight per connection")
	flag.IntVar(&o.size, "size", 64, "payload bytes")
	flag.IntVar(&o.workers, "workers", 16, "concurrent handshakes (handshake and resume modes)")
	flag.Float64Var(&o.duration, "duration", 3, "seconds measured")
	flag.Float64Var(&o.warmup, "warmup", 0.5, "seconds of warm-up")
	flag.IntVar(&procs, "procs", 1, "GOMAXPROCS of the client")
	flag.Parse()
	if o.name == "" || o.addr == "" || flag.NArg() != 0 || o.conns < 1 || o.inflight < 1 ||
		o.size < 8 || o.size > maxPayload || o.workers < 1 || o.duration <= 0 || procs < 1 {
		flag.Usage()
		os.Exit(2)
	}
	runtime.GOMAXPROCS(procs)
	cfg, err := clientConfig(caFile, suiteList, curveList)
	if err != nil {
		die("%v", err)
	}
	if o.resume {
		resumes(&o, cfg)
	} else if o.handshake {
		handshakes(&o, cfg)
	} else {
		throughput(&o, cfg)
	}
}
