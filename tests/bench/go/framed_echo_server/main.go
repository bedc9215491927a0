// framed_echo_server: the Go peer of the network benchmarks (issue 5).
//
//	framed_echo_server [-mode raw|jsonrpc] [-cert CERT -key KEY] HOST:PORT
//
// Framed TCP (a 4-byte big-endian length, then the payload), a goroutine
// per connection, as idiomatic Go writes it: a bufio.Reader and a
// bufio.Writer on the conn, flushed when no more input is buffered (so the
// replies to one read leave in one write, as our servers do).
//
// -mode raw echoes each frame back unchanged. -mode jsonrpc decodes each
// payload as a JSON-RPC request with encoding/json and answers
// {"jsonrpc":"2.0","result":params,"id":id} for method "echo" (an error
// -32601 for any other method, -32700 for bad JSON). A zero-length frame is
// a heartbeat and gets no reply. Prints "listening tcp ADDR" once it accepts.
//
// -cert and -key (PEM files; issue 7) serve the same frames over TLS with
// crypto/tls: TLS 1.2 at most, because our side's mbedtls 2.28 has no TLS
// 1.3, and otherwise Go's defaults (its suite order, its curves, session
// tickets on when the client asks). Each connection's goroutine runs the
// handshake first, with a 10 s deadline, as ours does.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

const maxFrame = 1 << 20

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

type reply struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

var null = json.RawMessage("null")

// answer returns the reply payload to one JSON-RPC request.
func answer(payload []byte) []byte {
	var req request
	var rep reply
	rep.JSONRPC = "2.0"
	if err := json.Unmarshal(payload, &req); err != nil {
		rep.Error = &rpcError{-32700, "parse error"}
	} else if req.Method != "echo" {
		rep.Error = &rpcError{-32601, "method not found"}
	} else if req.Params == nil {
		rep.Result = null
	} else {
		rep.Result = req.Params
	}
	rep.ID = req.ID
	if rep.ID == nil {
		rep.ID = null
	}
	out, err := json.Marshal(&rep)
	if err != nil {
		panic(err)
	}
	return out
}

// handshake runs the server side of a TLS handshake on c within 10 s.
func handshake(c *tls.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

func serve(c net.Conn, jsonrpc bool) {
	defer c.Close()
	if tc, ok := c.(*tls.Conn); ok && handshake(tc) != nil {
		return
	}
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxFrame {
			return
		}
		if n > 0 {
			if cap(buf) < int(n) {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			out := buf
			if jsonrpc {
				out = answer(buf)
			}
			binary.BigEndian.PutUint32(hdr[:], uint32(len(out)))
			w.Write(hdr[:])
			w.Write(out)
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func main() {
	mode := flag.String("mode", "raw", "raw or jsonrpc")
	certFile := flag.String("cert", "", "TLS certificate chain (PEM)")
	keyFile := flag.String("key", "", "TLS private key (PEM)")
	flag.Parse()
	if flag.NArg() != 1 || (*mode != "raw" && *mode != "jsonrpc") || (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(os.Stderr, "usage: framed_echo_server [-mode raw|jsonrpc] [-cert CERT -key KEY] HOST:PORT")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		l = tls.NewListener(l, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MaxVersion:   tls.VersionTLS12,
		})
	}
	fmt.Printf("listening tcp %s\n", l.Addr())
	jsonrpc := *mode == "jsonrpc"
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		go serve(c, jsonrpc)
	}
}
