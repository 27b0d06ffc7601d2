// Node's answer to every core for the HTTP benchmark (bench/workers.sh):
// `cluster` with N workers, each running bench/peers/http.js on the same
// port. Node's default scheduling on Linux (SCHED_RR): the primary
// accepts and hands each connection to a worker in turn.
//
//   node bench/peers/http-cluster.js 8080 2
'use strict';
const cluster = require('cluster');
const path = require('path');

if (cluster.isPrimary) {
  const n = Number(process.argv[3] || 2);
  for (let i = 0; i < n; i++) cluster.fork();
  const stop = () => {
    for (const id in cluster.workers) cluster.workers[id].process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  require(path.join(__dirname, 'http.js'));
}
