// wschat [-addr HOST:PORT]: the Go peer of the web benchmarks (issue 6).
//
// A chat server in the design of gorilla/websocket's chat example: one hub
// goroutine owns the rooms and their members; every client has a read pump
// and a write pump goroutine and a buffered `send` channel that only the
// write pump drains; a client whose channel is full is dropped by the hub.
// It speaks the JSON-RPC subset the benchmarks use, one JSON-RPC message per
// WebSocket text message at GET /ws:
//
//	echo                   -> the params as sent
//	chat.join {room, nick} -> {room, nick, members}
//	chat.send {room, text} -> the stored message {id, room, nick, text, ts},
//	                          after a `chat.message` notification to every member
//
// and POST /rpc answers JSON-RPC `echo` with net/http + encoding/json.
// Prints "listening http ADDR" once it accepts connections.
//
// Invariants: only the hub touches rooms and message ids; only a client's
// write pump writes to its connection; a client's send channel is closed
// once, by the hub, when the client leaves or falls behind.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

const (
	writeWait  = 10 * time.Second    // time allowed to write one message
	pongWait   = 60 * time.Second    // time allowed to read the next pong
	pingPeriod = (pongWait * 9) / 10 // pings to idle peers, within pongWait
	maxMessage = 1 << 20             // largest message read
	sendBuffer = 256                 // messages queued per client
)

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  interface{}     `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type message struct {
	ID   int64  `json:"id"`
	Room string `json:"room"`
	Nick string `json:"nick"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
}

type notification struct {
	JSONRPC string   `json:"jsonrpc"`
	Method  string   `json:"method"`
	Params  *message `json:"params"`
}

// client: one WebSocket connection.
type client struct {
	hub  *hub
	conn *websocket.Conn
	send chan []byte // outbound messages; closed by the hub
}

// op: a chat request the read pump hands to the hub.
type op struct {
	c      *client
	id     json.RawMessage
	method string
	room   string
	nick   string
	text   string
}

// hub: owns rooms and ids; runs in one goroutine.
type hub struct {
	ops        chan op
	unregister chan *client
	rooms      map[string]map[*client]string // room -> member -> nick
	joined     map[*client][]string          // client -> rooms it joined
	nextID     int64
}

func marshal(v interface{}) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

// push queues b for c; false (and c dropped) when c is too far behind.
func (h *hub) push(c *client, b []byte) bool {
	select {
	case c.send <- b:
		return true
	default:
		h.drop(c)
		return false
	}
}

func (h *hub) drop(c *client) {
	rs, ok := h.joined[c]
	if !ok {
		return
	}
	for _, r := range rs {
		delete(h.rooms[r], c)
	}
	delete(h.joined, c)
	close(c.send)
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.unregister:
			h.drop(c)
		case o := <-h.ops:
			if o.method == "register" {
				h.joined[o.c] = nil
				continue
			}
			if _, ok := h.joined[o.c]; !ok {
				continue // dropped already: its send channel is closed
			}
			h.handle(o)
		}
	}
}

func (h *hub) handle(o op) {
	switch o.method {
	case "echo":
		h.push(o.c, []byte(o.text))
	case "error":
		h.push(o.c, marshal(response{"2.0", json.RawMessage("null"), nil, &rpcError{-32700, "parse error"}}))
	case "unknown":
		h.push(o.c, marshal(response{"2.0", o.id, nil, &rpcError{-32601, "method not found"}}))
	case "chat.join":
		m := h.rooms[o.room]
		if m == nil {
			m = make(map[*client]string)
			h.rooms[o.room] = m
		}
		if _, in := m[o.c]; !in {
			h.joined[o.c] = append(h.joined[o.c], o.room)
		}
		m[o.c] = o.nick
		members := make([]string, 0, len(m))
		for _, n := range m {
			members = append(members, n)
		}
		h.push(o.c, marshal(response{"2.0", o.id, map[string]interface{}{
			"room": o.room, "nick": o.nick, "members": members}, nil}))
	case "chat.send":
		m := h.rooms[o.room]
		nick, in := m[o.c]
		if !in {
			h.push(o.c, marshal(response{"2.0", o.id, nil, &rpcError{-32003, "not joined"}}))
			return
		}
		h.nextID++
		msg := &message{h.nextID, o.room, nick, o.text, time.Now().UnixMilli()}
		note := marshal(notification{"2.0", "chat.message", msg})
		for c := range m {
			h.push(c, note)
		}
		h.push(o.c, marshal(response{"2.0", o.id, msg, nil}))
	}
}

// readPump: reads requests; answers echo itself, hands chat ops to the hub.
func (c *client) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMessage)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { c.conn.SetReadDeadline(time.Now().Add(pongWait)); return nil })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		var req request
		if err := json.Unmarshal(data, &req); err != nil {
			c.hub.ops <- op{c: c, method: "error"}
			continue
		}
		switch req.Method {
		case "echo":
			params := req.Params
			if params == nil {
				params = json.RawMessage("null")
			}
			// through the hub so that a dropped client's channel is never written
			c.hub.ops <- op{c: c, id: req.ID, method: "echo", text: string(marshal(response{"2.0", req.ID, params, nil}))}
		case "chat.join", "chat.send":
			var p struct{ Room, Nick, Text string }
			json.Unmarshal(req.Params, &p)
			c.hub.ops <- op{c, req.ID, req.Method, p.Room, p.Nick, p.Text}
		default:
			c.hub.ops <- op{c: c, id: req.ID, method: "unknown"}
		}
	}
}

// writePump: the only writer of c.conn; pings when idle.
func (c *client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case b, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1008, "too slow"))
				return
			}
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

var upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}

func serveWs(h *hub, w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &client{hub: h, conn: conn, send: make(chan []byte, sendBuffer)}
	h.ops <- op{c: c, method: "register"}
	go c.writePump()
	go c.readPump()
}

// serveRPC: POST /rpc, JSON-RPC echo with encoding/json.
func serveRPC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Write(marshal(response{"2.0", json.RawMessage("null"), nil, &rpcError{-32700, "parse error"}}))
		return
	}
	var resp response
	if req.Method == "echo" {
		params := req.Params
		if params == nil {
			params = json.RawMessage("null")
		}
		resp = response{"2.0", req.ID, params, nil}
	} else {
		resp = response{"2.0", req.ID, nil, &rpcError{-32601, "method not found"}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(marshal(resp))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	h := &hub{ops: make(chan op, 256), unregister: make(chan *client),
		rooms: map[string]map[*client]string{}, joined: map[*client][]string{}}
	go h.run()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { serveWs(h, w, r) })
	mux.HandleFunc("/rpc", serveRPC)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("listening http %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
