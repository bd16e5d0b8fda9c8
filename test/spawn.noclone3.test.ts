// Where clone3 is refused (Docker's default seccomp profile answers ENOSYS; kernels before 5.3
// have none), every clone in the library falls back to the legacy clone: the spawn itself, the
// fork into a joined pid namespace, and the init's fork of the command. Run for real under a
// seccomp filter (test/fixtures/no-clone3.c), which every process below it inherits.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { itRoot } from './helpers/host';

let helper: string;
beforeAll(() => {
  helper = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-noclone3-')), 'no-clone3');
  execFileSync('cc', ['-O2', '-Wall', '-o', helper, path.join(__dirname, 'fixtures/no-clone3.c')]);
});
afterAll(() => fs.rmSync(path.dirname(helper), { recursive: true, force: true }));

function underFilter(script: string): string {
  const lib = JSON.stringify(path.join(__dirname, 'fixtures/lib.js'));
  return execFileSync(
    helper,
    [process.execPath, '-e', `const ns = require(${lib});\n(async () => {\n${script}\n})().catch((e) => { console.error(e); process.exit(1); });`],
    {
      encoding: 'utf8',
      timeout: 20000,
    },
  );
}

it('the filter really refuses clone3, and capabilities() says so', () => {
  const out = underFilter(`
    const c = await ns.capabilities();
    console.log(JSON.stringify(c.clone3));`);
  const clone3 = JSON.parse(out.trim());
  expect(clone3.supported).toBe(false);
  expect(clone3.reason).toMatch(/ENOSYS/);
});

it('spawns without and with namespaces, the init (its fork) and exact statuses', () => {
  const out = underFilter(`
    const plain = await ns.run('sh', ['-c', 'exit 3']);
    const sandboxed = await ns.run('sh', ['-c', 'echo $$; cat /proc/1/comm'], { namespaces: ['user', 'pid', 'mount', 'net'] });
    const killed = ns.spawn('sleep', ['30'], { namespaces: ['user', 'pid'], stdio: 'ignore' });
    await new Promise((r) => killed.once('spawn', r));
    killed.kill('SIGTERM');
    console.log(JSON.stringify([plain.code, sandboxed.stdout, await killed.exited]));`);
  expect(JSON.parse(out.trim())).toEqual([3, '2\nnsgroups-init\n', expect.objectContaining({ code: null, signal: 'SIGTERM', status: 'signal' })]);
});

it('a pid-namespace join (one more fork) and a time namespace (a fork-style child)', () => {
  const out = underFilter(`
    const holder = ns.spawn('sleep', ['30'], { namespaces: ['user', 'pid'], stdio: 'ignore' });
    await new Promise((r) => holder.once('spawn', r));
    const joined = await ns.run('sh', ['-c', 'echo $$'], { join: ['/proc/' + holder.pid + '/ns/user', '/proc/' + holder.pid + '/ns/pid'] });
    const timed = await ns.run('cut', ['-d', ' ', '-f1', '/proc/uptime'], { namespaces: ['user', 'time'], timeOffsets: { boottime: 100000 } });
    holder.kill('SIGKILL');
    await holder.exited;
    console.log(JSON.stringify([Number(joined.stdout) > 1, Number(timed.stdout) > 100000]));`);
  expect(JSON.parse(out.trim())).toEqual([true, true]);
});

itRoot('spawn({ cgroup }) without CLONE_INTO_CGROUP: the parent moves the child before it execs', () => {
  const out = underFilter(`
    const cg = await ns.Cgroup.create('noclone3-' + process.pid, { pids: { max: 16 } });
    try {
      const r = await ns.run('cat', ['/proc/self/cgroup'], { cgroup: cg });
      console.log(JSON.stringify(r.stdout.split('\\n').filter((l) => /:pids:|^0::/.test(l))));
    } finally { await cg.delete({ kill: true }); }`);
  const lines = JSON.parse(out.trim()) as string[];
  expect(lines.length).toBeGreaterThanOrEqual(1);
  for (const l of lines) expect(l).toMatch(new RegExp(`/nsgroups/noclone3-\\d+$`));
});
