// Many sandboxes in a row leave nothing behind: no zombie, no fd, no child.
import { run, spawn, type SpawnOptions } from '../lib';
import { childPids, fdTable, newFds, zombieChildren } from './helpers/proc';

const full: SpawnOptions = { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc', 'net'], stdio: 'ignore' };

it('500 sequential spawns leave no zombie and no fd', async () => {
  await run('true', [], full); // the one-time init memfd
  const fds = fdTable();
  const children = childPids();
  for (let i = 0; i < 500; i++) {
    const p = spawn('true', [], full);
    const info = await p.exited;
    if (info.code !== 0) throw new Error(`spawn ${i} ended with ${JSON.stringify(info)}`);
  }
  await new Promise((r) => setImmediate(r));
  expect(zombieChildren()).toEqual([]);
  expect(childPids()).toEqual(children);
  expect(newFds(fds)).toEqual([]);
}, 120000);

it('50 concurrent spawns with piped output all report exactly', async () => {
  const fds = fdTable();
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => run('sh', ['-c', `echo ${i}; exit ${i % 7}`], { ...full, stdio: undefined })));
  results.forEach((r, i) => expect(r).toMatchObject({ code: i % 7, stdout: `${i}\n` }));
  await new Promise((r) => setImmediate(r));
  expect(zombieChildren()).toEqual([]);
  expect(newFds(fds)).toEqual([]);
}, 60000);
