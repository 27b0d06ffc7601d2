// The Node.js peer of the HTTP benchmark (bench/http.sh): node's http
// module answering every request with http_echo's GET /hello (12 bytes,
// content-type, content-length; node adds date and its keep-alive
// headers). Sockets have Nagle off (node's http default, noDelay: true).
//
//   node bench/peers/http.js 8080
'use strict';
const http = require('http');
const port = Number(process.argv[2] || 8080);
const body = Buffer.from('Hello world!');
http
  .createServer({ noDelay: true }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  })
  .listen(port, '0.0.0.0');
