/* addrlimit.h: limits per remote address (doc/protocol.md, "Limits"): the
 * connections one address may hold open (--max-conns-per-ip) and open per
 * second (--conn-rate, bursts of twice that), so one address can no longer
 * take every slot, nor spend the server's CPU on handshakes without end.
 * Past either, a connection gets the same answer as past --max-conns.
 *
 * An address is an IPv4 address, or an IPv6 /64 (what one host or one
 * home is usually given: a host picks any address in its /64 at will).
 */
#ifndef GOCD_ADDRLIMIT_H
#define GOCD_ADDRLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <goc/net.h>

/* The address a connection counts against. */
typedef struct addr_key {
    uint8_t b[17]; /* 4 bytes of IPv4 or 8 of an IPv6 prefix; b[16]: 4 or 6 */
} addr_key;

/* Sets the limits (0: none) before the first connection. */
void addrlimit_init(int64_t max_per_addr, int64_t per_second);

/* Admits a new connection c: true, counted against its address until
 * addrlimit_release(key); false when its address is over a limit (nothing
 * counted). A connection whose address cannot be read is admitted. */
bool addrlimit_admit(goc_conn *c, addr_key *key);

/* The connection admitted under key closed. */
void addrlimit_release(const addr_key *key);

/* Addresses in the table now (for tests and /metrics). */
int64_t addrlimit_tracked(void);

#endif
