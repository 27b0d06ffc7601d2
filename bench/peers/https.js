// The Node.js peer of the TLS benchmark (bench/tls.sh): node's https
// module, one process, answering every request like https_echo's
// GET /hello (12 bytes, content-type, content-length; node adds date and
// its keep-alive headers). Nagle off (noDelay), OpenSSL's defaults
// otherwise (tickets on, TLS 1.2 and 1.3), ALPN http/1.1.
//
//   node bench/peers/https.js PORT CERT KEY          # HTTPS
//   node bench/peers/https.js PORT CERT KEY --echo   # a tls echo server
'use strict';
const fs = require('fs');
const [port, certFile, keyFile, mode] = process.argv.slice(2);
if (!port || !certFile || !keyFile) {
  console.error('usage: node https.js PORT CERT KEY [--echo]');
  process.exit(2);
}
const options = { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), noDelay: true };
let server;
if (mode === '--echo') {
  server = require('tls').createServer(options, (socket) => {
    socket.on('data', (chunk) => {
      if (!socket.write(chunk)) socket.pause();
    });
    socket.on('drain', () => socket.resume());
    socket.on('error', () => {});
  });
} else {
  const body = Buffer.from('Hello world!');
  server = require('https').createServer({ ...options, ALPNProtocols: ['http/1.1'] }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
}
server.listen({ port: Number(port), host: '::', ipv6Only: false, backlog: 1024 });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
