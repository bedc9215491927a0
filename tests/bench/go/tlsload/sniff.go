// The key exchange a TLS 1.2 server chose, read off the wire: Go 1.19's
// ConnectionState does not report it, and the client offers more than one
// curve (an mbedtls server takes a certificate only if its own curve is
// among those offered, so P-256 must be there beside X25519).
package main

import (
	"encoding/binary"
	"fmt"
	"net"
)

// sniffConn passes reads through and keeps the first bytes the server
// sent: its plaintext handshake flight (ServerHello ... ServerHelloDone).
type sniffConn struct {
	net.Conn
	seen []byte // the first bytes read, at most sniffMax
}

const sniffMax = 16 * 1024

func (s *sniffConn) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if room := sniffMax - len(s.seen); room > 0 {
		if n < room {
			room = n
		}
		s.seen = append(s.seen, p[:room]...)
	}
	return n, err
}

var groupNames = map[uint16]string{0x0017: "P-256", 0x0018: "P-384", 0x0019: "P-521", 0x001d: "X25519"}

// keyExchange finds the ServerKeyExchange in the handshake records seen and
// names its curve ("X25519"), or says why it cannot.
func keyExchange(seen []byte) string {
	var hs []byte // the handshake messages, records' headers removed
	for len(seen) >= 5 && seen[0] == 22 {
		n := int(binary.BigEndian.Uint16(seen[3:5]))
		if len(seen) < 5+n {
			break
		}
		hs = append(hs, seen[5:5+n]...)
		seen = seen[5+n:]
	}
	for len(hs) >= 4 {
		typ, n := hs[0], int(hs[1])<<16|int(hs[2])<<8|int(hs[3])
		if len(hs) < 4+n {
			break
		}
		body := hs[4 : 4+n]
		if typ == 12 { // ServerKeyExchange
			if len(body) < 3 || body[0] != 3 { // 3: named_curve
				return "not-named-curve"
			}
			id := binary.BigEndian.Uint16(body[1:3])
			if name, ok := groupNames[id]; ok {
				return name
			}
			return fmt.Sprintf("group-0x%04x", id)
		}
		hs = hs[4+n:]
	}
	return "no-ServerKeyExchange"
}
