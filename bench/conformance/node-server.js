// The conformance routes on Node's http server, for compare.sh:
// /echo answers the request body, anything else 200 "ok" at once.
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  let path = '';
  try {
    path = new URL(req.url, 'http://t').pathname;
  } catch (_) {}
  if (path !== '/echo') {
    res.end('ok');
    return;
  }
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    if (req.headers['content-length'] !== undefined) {
      res.setHeader('content-length', body.length);
    }
    res.end(body);
  });
});
server.listen(port, '127.0.0.1');
