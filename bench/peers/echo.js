// echo.js: the Node.js `net` echo server.
//
//   node bench/peers/echo.js PORT
//
// Writes each chunk back at once; pauses reading while `write` reports
// backpressure and resumes on `drain`, like the other servers. Listens on
// [::]:PORT dual-stack with a backlog of 1024, like hinge's Server.
'use strict';

const net = require('net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node echo.js PORT');
  process.exit(2);
}

// TCP_NODELAY like every peer of the harness (ECHO_NODELAY, default 1).
const noDelay = process.env.ECHO_NODELAY !== '0';
const server = net.createServer({ noDelay }, (socket) => {
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  socket.on('error', () => {}); // the peer went away: 'close' follows
});

server.on('error', (err) => {
  console.error(`echo.js: ${err.message}`);
  process.exit(1);
});
server.listen({ port, host: '::', ipv6Only: false, backlog: 1024 });

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
