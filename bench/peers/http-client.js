// The Node peer of bench/src/bin/http-client.rs: GET PATH over CONNS
// keep-alive connections (http.Agent with keepAlive, maxSockets CONNS),
// each connection's requests one after the other, bodies read whole;
// prints the measured part's CPU (process.cpuUsage) and wall time.
//
//   node bench/peers/http-client.js PORT PATH CONNS REQUESTS WARMUP
'use strict';
const http = require('http');
const [port, path, conns, requests, warmup] = process.argv.slice(2);
const CONNS = +conns, WARMUP = +warmup, TOTAL = +warmup + +requests;
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNS, maxFreeSockets: CONNS });
let sent = 0, done = 0, cpu0, wall0;
function next() {
  if (sent >= TOTAL) return;
  sent++;
  const req = http.request({ host: '127.0.0.1', port: +port, path, agent }, (res) => {
    const parts = [];
    res.on('data', (c) => parts.push(c));
    res.on('end', () => {
      Buffer.concat(parts);
      done++;
      if (done === WARMUP) { cpu0 = process.cpuUsage(); wall0 = process.hrtime.bigint(); }
      if (done === TOTAL) {
        const c = process.cpuUsage(cpu0);
        const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
        console.log(JSON.stringify({ requests: TOTAL - WARMUP, cpu_s: (c.user + c.system) / 1e6, wall_s: wall }));
        agent.destroy();
        return;
      }
      next();
    });
  });
  req.on('error', (e) => { console.error(e); process.exit(1); });
  req.end();
}
for (let i = 0; i < CONNS; i++) next();
