// tests/bench/node/server.js [HOST:PORT]: the Node.js peer of ws_broadcast
// and ws_idle_memory (issue 6). A chat server on npm's `ws` speaking the
// JSON-RPC subset the benchmark uses, over WebSocket text messages at GET /ws:
//   echo                -> the params as sent
//   chat.join {room, nick} -> {room, nick, members}
//   chat.send {room, text} -> the message {id, room, nick, text, ts}, and a
//                            `chat.message` notification to every member.
// Prints "listening http ADDR" once it accepts connections.
// Invariant: a room's members are a Set of sockets; a socket is removed from
// every room it joined when it closes.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const [host, port] = (process.argv[2] || '127.0.0.1:0').split(':');
const rooms = new Map(); // room name -> Set of sockets
let nextId = 1;

function reply(ws, id, result) {
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, result }));
}
function fail(ws, id, code, message) {
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
}

function handle(ws, req) {
  const p = req.params || {};
  switch (req.method) {
    case 'echo':
      return reply(ws, req.id, req.params === undefined ? null : req.params);
    case 'chat.join': {
      let set = rooms.get(p.room);
      if (!set) rooms.set(p.room, (set = new Set()));
      set.add(ws);
      ws.nicks.set(p.room, p.nick);
      return reply(ws, req.id, { room: p.room, nick: p.nick, members: [] });
    }
    case 'chat.send': {
      const set = rooms.get(p.room);
      if (!set || !set.has(ws)) return fail(ws, req.id, -32003, 'not joined');
      const msg = { id: nextId++, room: p.room, nick: ws.nicks.get(p.room), text: p.text, ts: Date.now() };
      const note = JSON.stringify({ jsonrpc: '2.0', method: 'chat.message', params: msg });
      for (const m of set) m.send(note);
      return reply(ws, req.id, msg);
    }
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
