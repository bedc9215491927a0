/* chat_redis_lua.c: the Redis broker's Lua scripts (doc/cluster.md). Each
 * change to the chat in Redis is one script, so it is atomic: a message
 * takes its id, goes into the room's stream, moves the room's head and is
 * published in one step; a join or leave checks and changes the members
 * hash and publishes its event in one step. Every event names the event
 * before it in its room (field p, and PREV in the published text).
 *
 * Invariants: the chat's texts reach the scripts as arguments, never
 * inside their source; each script touches the keys of one room plus the
 * global ones chat_redis.h names.
 */
#include "chat_redis.h"

chat__redis_scripts chat__scripts;

/* Shared by the scripts that make presence events. */
#define LUA_PRELUDE                                                                              \
    "local function now_ms()\n"                                                                  \
    "  local t = redis.call('TIME')\n"                                                           \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                       \
    "end\n"                                                                                      \
    "local function pres_event(room, op, nick, maxlen)\n"                                        \
    "  local pre = 'goc:{' .. room .. '}:'\n"                                                    \
    "  local prev = redis.call('GET', pre .. 'head') or '0-0'\n"                                 \
    "  local ms, seq = string.match(prev, '^(%d+)-(%d+)$')\n"                                    \
    "  local eid = ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)\n"                      \
    "  redis.call('XADD', pre .. 'pres', 'MAXLEN', '~', maxlen, eid, 'p', prev, 'k', op,"        \
    " 'n', nick)\n"                                                                              \
    "  redis.call('SET', pre .. 'head', eid)\n"                                                  \
    "  redis.call('PUBLISH', pre .. 'ch', prev .. ' ' .. eid .. ' ' .. op .. ' ' .. nick)\n"     \
    "  return prev, eid\n"                                                                       \
    "end\n"                                                                                      \
    /* a room with no member and no message is forgotten (its head kept a day) */                \
    "local function forget_if_empty(room)\n"                                                     \
    "  local pre = 'goc:{' .. room .. '}:'\n"                                                    \
    "  if redis.call('HLEN', pre .. 'members') == 0 and not redis.call('GET', pre .. 'count')"   \
    " then\n"                                                                                    \
    "    redis.call('DEL', pre .. 'pres', pre .. 'members')\n"                                   \
    "    redis.call('PEXPIRE', pre .. 'head', 86400000)\n"                                       \
    "    redis.call('SREM', 'goc:rooms', room)\n"                                                \
    "  end\n"                                                                                    \
    "end\n"

/* KEYS: ids, log, head, count, rooms. ARGV: room, nick, text, the
 * notification's head and tail (without the id and ts), maxlen, channel.
 * Returns {id, ts}. */
static const char send_src[] =
    LUA_PRELUDE
    "local id = redis.call('INCR', KEYS[1])\n"
    "local ts = string.format('%.0f', now_ms())\n"
    "local prev = redis.call('GET', KEYS[3]) or '0-0'\n"
    "local sid = string.format('%.0f', id)\n"
    "local eid = sid .. '-0'\n"
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], eid, 'p', prev, 'n', ARGV[2],"
    " 't', ARGV[3], 's', ts)\n"
    "redis.call('SET', KEYS[3], eid)\n"
    "redis.call('INCR', KEYS[4])\n"
    "redis.call('SADD', KEYS[5], ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[7], prev .. ' ' .. eid .. ' m ' .. ARGV[4] .. sid .. ARGV[5]"
    " .. ts .. '}}')\n"
    "return {id, tonumber(ts)}\n";

/* KEYS: members, head. ARGV: room, op (j or l), nick, instance, maxlen,
 * ttl (ms). Returns {'ok', prev, eid}, {'taken'}, {'held'} or {'absent'}. */
static const char presence_src[] =
    LUA_PRELUDE
    "local room, op, nick, inst = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local cur = redis.call('HGET', KEYS[1], nick)\n"
    "local owner = cur and string.match(cur, '^(%S+)')\n"
    "if op == 'j' then\n"
    "  if cur then\n"
    "    if owner ~= inst then return {'taken'} end\n"
    "    return {'held'}\n"
    "  end\n"
    "  local prev, eid = pres_event(room, 'j', nick, ARGV[5])\n"
    "  redis.call('HSET', KEYS[1], nick, inst .. ' ' .. eid)\n"
    "  redis.call('SADD', 'goc:rooms', room)\n"
    "  redis.call('SADD', 'goc:node:' .. inst .. ':rooms', room)\n"
    "  redis.call('HSETNX', 'goc:nodes', inst, string.format('%.0f', now_ms() + ARGV[6]))\n"
    "  return {'ok', prev, eid}\n"
    "end\n"
    "if owner ~= inst then return {'absent'} end\n"
    "redis.call('HDEL', KEYS[1], nick)\n"
    "local prev, eid = pres_event(room, 'l', nick, ARGV[5])\n"
    "forget_if_empty(room)\n"
    "return {'ok', prev, eid}\n";

/* KEYS: log, pres, head. ARGV: first id, last id (or +), count. Returns
 * {head, messages, presence events}. */
static const char events_src[] =
    "return {redis.call('GET', KEYS[3]) or '0-0',"
    " redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3]),"
    " redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[2], 'COUNT', ARGV[3])}\n";

/* KEYS: members, head, log. Returns {head, last message id, {nick, value, ...}}. */
static const char snapshot_src[] =
    "local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)\n"
    "local lastid = '0'\n"
    "if last[1] then lastid = string.match(last[1][1], '^(%d+)') end\n"
    "return {redis.call('GET', KEYS[2]) or '0-0', lastid, redis.call('HGETALL', KEYS[1])}\n";

/* Returns {room, members, messages, ...} for every room known. */
static const char rooms_src[] =
    "local out = {}\n"
    "for _, r in ipairs(redis.call('SMEMBERS', 'goc:rooms')) do\n"
    "  local pre = 'goc:{' .. r .. '}:'\n"
    "  out[#out + 1] = r\n"
    "  out[#out + 1] = redis.call('HLEN', pre .. 'members')\n"
    "  out[#out + 1] = tonumber(redis.call('GET', pre .. 'count') or '0')\n"
    "end\n"
    "return out\n";

/* ARGV: instance, ttl (ms), registered (1: a heartbeat went through
 * before). Returns 'reaped' when the others removed this instance. */
static const char heartbeat_src[] =
    LUA_PRELUDE
    "local had = redis.call('HEXISTS', 'goc:nodes', ARGV[1])\n"
    "redis.call('HSET', 'goc:nodes', ARGV[1], string.format('%.0f', now_ms() + ARGV[2]))\n"
    "if had == 0 and ARGV[3] == '1' then return 'reaped' end\n"
    "return 'ok'\n";

/* ARGV: this instance, maxlen, target ('': every other instance whose
 * heartbeat expired; else that instance). Removes their members, with a
 * leave event each. Returns how many. */
static const char reap_src[] =
    LUA_PRELUDE
    "local gone = {}\n"
    "if ARGV[3] ~= '' then gone = {ARGV[3]} else\n"
    "  local now = now_ms()\n"
    "  local nodes = redis.call('HGETALL', 'goc:nodes')\n"
    "  for i = 1, #nodes, 2 do\n"
    "    if nodes[i] ~= ARGV[1] and tonumber(nodes[i + 1]) < now then\n"
    "      gone[#gone + 1] = nodes[i]\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local n = 0\n"
    "for _, inst in ipairs(gone) do\n"
    "  for _, room in ipairs(redis.call('SMEMBERS', 'goc:node:' .. inst .. ':rooms')) do\n"
    "    local mk = 'goc:{' .. room .. '}:members'\n"
    "    local all = redis.call('HGETALL', mk)\n"
    "    for j = 1, #all, 2 do\n"
    "      if string.match(all[j + 1], '^(%S+)') == inst then\n"
    "        redis.call('HDEL', mk, all[j])\n"
    "        pres_event(room, 'l', all[j], ARGV[2])\n"
    "        n = n + 1\n"
    "      end\n"
    "    end\n"
    "    forget_if_empty(room)\n"
    "  end\n"
    "  redis.call('DEL', 'goc:node:' .. inst .. ':rooms')\n"
    "  redis.call('HDEL', 'goc:nodes', inst)\n"
    "end\n"
    "return n\n";

void chat__redis_scripts_init(void)
{
    redis_script_init(&chat__scripts.send, send_src);
    redis_script_init(&chat__scripts.presence, presence_src);
    redis_script_init(&chat__scripts.events, events_src);
    redis_script_init(&chat__scripts.snapshot, snapshot_src);
    redis_script_init(&chat__scripts.rooms, rooms_src);
    redis_script_init(&chat__scripts.heartbeat, heartbeat_src);
    redis_script_init(&chat__scripts.reap, reap_src);
}
