#!/usr/bin/env node
// Two sandboxes talking over a veth pair. Two new network namespaces, one end of a veth pair in
// each (10.200.0.1/30 and 10.200.0.2/30); a server sandbox joins the first and listens, a
// client sandbox joins the second, connects across the pair, says hello and prints the answer.
// Neither sees the host's network: each has only its loopback and its end of the pair.
//
// Needs ROOT (creating network namespaces and links; as another user it says so and exits 2).
// From the package:
//
//   sudo node examples/veth.js
//
// Prints what each side saw (its interfaces, the message, the answer); exits 0 when the message
// went both ways. The namespaces (and so the veth pair) go when the example ends.
'use strict';
const { Namespace, NetworkLinks, run, spawn } = require('nsgroups');

const SERVER = `
  const net = require('net');
  const server = net.createServer((s) => s.once('data', (d) => { s.end('hello back, ' + d); server.close(); }));
  server.listen(7000, '10.200.0.1', () => console.log('listening on 10.200.0.1:7000'));`;
const CLIENT = `
  const s = require('net').connect(7000, '10.200.0.1', () => s.write('client at 10.200.0.2'));
  s.setEncoding('utf8').on('data', (d) => process.stdout.write(d)).on('end', () => console.log());`;

async function main() {
  if (process.geteuid() !== 0) {
    console.error('veth.js needs root: it creates network namespaces and a veth pair between them');
    return 2;
  }
  const a = await Namespace.create('net');
  const b = await Namespace.create('net');
  try {
    const linksA = new NetworkLinks(a);
    const linksB = new NetworkLinks(b);
    await linksA.addVeth('veth-a', { peer: 'veth-b', peerNamespace: b });
    await linksA.addAddress('veth-a', '10.200.0.1/30');
    await linksB.addAddress('veth-b', '10.200.0.2/30');
    for (const [links, name] of [
      [linksA, 'veth-a'],
      [linksA, 'lo'],
      [linksB, 'veth-b'],
      [linksB, 'lo'],
    ])
      await links.up(name);
    console.log(`namespace a: ${(await linksA.list()).map((l) => l.name).join(', ')}; namespace b: ${(await linksB.list()).map((l) => l.name).join(', ')}`);

    const server = spawn(process.execPath, ['-e', SERVER], { join: [a], namespaces: ['user', 'pid', 'mount'] });
    let serverOut = '';
    await new Promise((resolve, reject) => {
      server.stdout.setEncoding('utf8').on('data', (d) => {
        serverOut += d;
        if (serverOut.includes('listening')) resolve();
      });
      server.once('error', reject);
      server.once('exit', () => reject(new Error(`the server ended: ${serverOut}`)));
    });
    console.log(`server (in a): ${serverOut.trim()}`);
    const client = await run(process.execPath, ['-e', CLIENT], { join: [b], namespaces: ['user', 'pid', 'mount'], timeout: 10_000 });
    const answer = client.stdout.trim();
    console.log(`client (in b) got: ${answer || client.stderr.trim()}`);
    await server.exited;
    const ok = answer === 'hello back, client at 10.200.0.2';
    console.log(ok ? 'ok: the message went across the veth pair and back' : 'NOT ok');
    return ok ? 0 : 1;
  } finally {
    a.close();
    b.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
