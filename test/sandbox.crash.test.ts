// Sandbox: a crash of the Node process (SIGKILL: no exit handler runs) leaves nothing, of its
// sandboxes in use nor of a pool's idle ones. Every
// process of its sandboxes dies with it (PR_SET_PDEATHSIG on each holder and its init, whose
// death ends the pid namespace), their mounts go with their mount namespaces, and the janitor
// it started removes their directories and cgroups once it is gone.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childrenOf } from './helpers/sandbox';
import { eventually, hostMountsMentioning, makeWorkspace, pidsInNamespace } from './helpers/sandboxes';
import { isRoot } from './helpers/host';

let ws: string;
beforeAll(() => {
  ws = makeWorkspace('crash');
});
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

interface Made {
  pid: number;
  pidns: string[];
  poolPidns: string[];
  dirs: string[];
  cgroups: string[];
}

it("a crash of the Node process leaves no process, mount, directory or cgroup of its sandboxes, a pool's idle ones included", async () => {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'sandbox-crash.js'), ws, isRoot ? 'limits' : 'none'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const made = await new Promise<Made>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += String(d);
      if (out.includes('\n')) resolve(JSON.parse(out) as Made);
    });
    child.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before making its sandboxes`)));
  });
  const janitor = childrenOf(made.pid).filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dirs= cgs='));
  expect(janitor.length).toBe(1);
  for (const ns of made.pidns) expect(pidsInNamespace(ns).length).toBeGreaterThanOrEqual(3); // init, holder, the leftover
  expect(made.poolPidns.length).toBe(2); // a pool's idle sandboxes: init and holder each
  for (const ns of made.poolPidns) expect(pidsInNamespace(ns).length).toBe(2);
  for (const d of made.dirs) expect(fs.existsSync(d)).toBe(true);
  if (isRoot) expect(made.cgroups.length).toBeGreaterThan(0);

  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  await eventually(() => [...made.pidns, ...made.poolPidns].every((ns) => pidsInNamespace(ns).length === 0), 10000, 'the sandboxes’ processes to die');
  await eventually(
    () => !fs.existsSync(`/proc/${janitor[0]}`) || fs.readFileSync(`/proc/${janitor[0]}/stat`, 'utf8').includes(') Z'),
    20000,
    'the janitor to finish',
  );
  for (const d of made.dirs) expect(fs.existsSync(d)).toBe(false);
  for (const c of made.cgroups) expect(fs.existsSync(c)).toBe(false);
  for (const d of made.dirs) expect(hostMountsMentioning(d)).toEqual([]);
}, 60000);
