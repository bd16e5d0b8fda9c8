#!/usr/bin/env node
// A small program under test, the kind the examples sandbox: it writes files in its directory and
// in /tmp, deletes one, and serves HTTP on 127.0.0.1.
//   node app.js build NAME   writes dist/out.txt and /tmp/app-build.log, removes stale.txt
//   node app.js serve PORT   answers every request with a greeting
'use strict';
const fs = require('node:fs');
const http = require('node:http');

const [command, arg] = process.argv.slice(2);
if (command === 'build') {
  fs.mkdirSync('dist', { recursive: true });
  fs.writeFileSync('dist/out.txt', `built ${arg}\n`);
  fs.rmSync('stale.txt', { force: true });
  fs.appendFileSync('/tmp/app-build.log', `built ${arg}\n`);
} else if (command === 'serve') {
  http.createServer((_req, res) => res.end('hello from the sandbox\n')).listen(Number(arg), '127.0.0.1', () => console.log('listening'));
} else {
  console.error('usage: app.js build NAME | serve PORT');
  process.exit(2);
}
