// tests/bench/node/server.js [HOST:PORT] [REDIS_URL]: the Node.js peer of
// ws_broadcast, ws_idle_memory (issue 6) and, given REDIS_URL, of
// cluster_broadcast and cluster_latency (issue 15). A chat server on npm's
// `ws` speaking the JSON-RPC subset the benchmarks use, over WebSocket text
// messages at GET /ws:
//   echo                -> the params as sent
//   chat.join {room, nick} -> {room, nick, members}
//   chat.send {room, text} -> the message {id, room, nick, text, ts}, and a
//                            `chat.message` notification to every member.
// Prints "listening http ADDR" once it accepts connections.
//
// With REDIS_URL, several processes form one chat the way socket.io's Redis
// adapter does, with ioredis: chat.send runs one Lua script that takes the
// next id (INCR), stores the message in the room's stream (XADD, trimmed
// to about 10,000 as ours) and publishes the notification on the room's
// channel, so every process sees a room's messages in id order (as gocd's
// script does); each process subscribes to the channels of the rooms its
// members joined and hands what arrives to them.
//
// Invariant: a room's members are a Set of sockets; a socket is removed from
// every room it joined when it closes.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const [host, port] = (process.argv[2] || '127.0.0.1:0').split(':');
const redisUrl = process.argv[3];
const rooms = new Map(); // room name -> Set of sockets
let nextId = 1;

function reply(ws, id, result) {
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, result }));
}
function fail(ws, id, code, message) {
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
}
function deliver(room, note) {
  const set = rooms.get(room);
  if (set) for (const m of set) m.send(note);
}

// ---- one process, or several through Redis
let pub = null;
if (redisUrl) {
  const Redis = require('ioredis');
  pub = new Redis(redisUrl);
  const sub = new Redis(redisUrl);
  pub.defineCommand('chatSend', {
    numberOfKeys: 2, // ids, the room's stream; ARGV: room, nick, text, ts, channel
    lua: `local id = redis.call('INCR', KEYS[1])
          redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, id .. '-0', 'n', ARGV[2],
                     't', ARGV[3], 's', ARGV[4])
          redis.call('PUBLISH', ARGV[5], cjson.encode({jsonrpc = '2.0', method = 'chat.message',
            params = {id = id, room = ARGV[1], nick = ARGV[2], text = ARGV[3],
                      ts = tonumber(ARGV[4])}}))
          return id`,
  });
  sub.on('message', (channel, note) => deliver(channel.slice('node:'.length), note));
  pub.subscribeRoom = (room) => sub.subscribe('node:' + room);
}

function join(ws, p) {
  let set = rooms.get(p.room);
  if (!set) {
    rooms.set(p.room, (set = new Set()));
    if (pub) return pub.subscribeRoom(p.room).then(() => set);
  }
  return Promise.resolve(set);
}

function send(ws, req, p) {
  const set = rooms.get(p.room);
  if (!set || !set.has(ws)) return fail(ws, req.id, -32003, 'not joined');
  const nick = ws.nicks.get(p.room), ts = Date.now();
  if (!pub) {
    const msg = { id: nextId++, room: p.room, nick, text: p.text, ts };
    deliver(p.room, JSON.stringify({ jsonrpc: '2.0', method: 'chat.message', params: msg }));
    return reply(ws, req.id, msg);
  }
  pub.chatSend('node:ids', 'node:{' + p.room + '}:log', p.room, nick, p.text, ts, 'node:' + p.room)
    .then((id) => reply(ws, req.id, { id, room: p.room, nick, text: p.text, ts }))
    .catch((e) => fail(ws, req.id, -32006, 'unavailable: ' + e.message));
}

function handle(ws, req) {
  const p = req.params || {};
  switch (req.method) {
    case 'echo':
      return reply(ws, req.id, req.params === undefined ? null : req.params);
    case 'chat.join':
      return join(ws, p).then((set) => {
        set.add(ws);
        ws.nicks.set(p.room, p.nick);
        reply(ws, req.id, { room: p.room, nick: p.nick, members: [] });
      });
    case 'chat.send':
      return send(ws, req, p);
    default:
      return fail(ws, req.id, -32601, 'method not found');
  }
}

const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server, path: '/ws' });
wss.on('connection', (ws) => {
  ws.nicks = new Map();
  ws.on('message', (data, isBinary) => {
    if (isBinary) return ws.close(1003);
    let req;
    try { req = JSON.parse(data); } catch (e) { return fail(ws, null, -32700, 'parse error'); }
    handle(ws, req);
  });
  ws.on('close', () => {
    for (const room of ws.nicks.keys()) rooms.get(room).delete(ws);
  });
});
server.listen(Number(port), host, () => {
  const a = server.address();
  process.stdout.write(`listening http ${a.address}:${a.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
