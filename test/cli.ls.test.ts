// `nsgroups ls`: one row per sandbox, checked against /proc and cgroupfs for sandboxes this test
// starts (with an init, without one, in a cgroup of ours).
import { once } from 'node:events';
import * as fs from 'node:fs';
import { Cgroup, spawn, type SandboxProcess, type SpawnOptions } from '../lib';
import type { Sandbox } from '../lib/cli/sandboxes';
import { nsgroupsAsync } from './helpers/cli';
import { itRoot } from './helpers/host';
import { inodeOf } from './helpers/sandbox';

async function start(options: SpawnOptions): Promise<SandboxProcess> {
  const p = spawn('sleep', ['30'], { stdio: 'ignore', ...options });
  await once(p, 'spawn');
  return p;
}

async function stop(...ps: SandboxProcess[]): Promise<void> {
  for (const p of ps) {
    p.kill('SIGKILL');
    await p.exited.catch(() => {});
  }
}

async function lsJson(...args: string[]): Promise<Sandbox[]> {
  const r = await nsgroupsAsync('ls', '--json', ...args);
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(r.stdout) as Sandbox[];
}

const link = (pid: number, ns: string) => inodeOf(fs.readlinkSync(`/proc/${pid}/ns/${ns}`));

/** The processes of `pid`'s pid namespace by their pid inside it (1: the init, 2: the command). */
function byInnerPid(pid: number): Map<number, number> {
  const inode = link(pid, 'pid');
  const out = new Map<number, number>();
  for (const name of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (link(Number(name), 'pid') !== inode) continue;
      const nspid = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))![1].split(/\s+/);
      out.set(Number(nspid.at(-1)), Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('nsgroups ls', () => {
  let withInit: SandboxProcess;
  let noInit: SandboxProcess;
  beforeAll(async () => {
    withInit = await start({ namespaces: ['user', 'pid', 'mount', 'net', 'uts', 'ipc'] });
    noInit = await start({ namespaces: ['user', 'net'] });
  });
  afterAll(() => stop(withInit, noInit));

  it('one row per sandbox: the init and its command, with its namespaces as /proc shows them', async () => {
    const rows = await lsJson();
    const inside = byInnerPid(withInit.pid!);
    const [init, command] = [inside.get(1)!, inside.get(2)!];
    // the pid spawn() returned is the row; the init and the command are part of it, not rows
    expect(rows.filter((s) => s.pid === withInit.pid)).toHaveLength(1);
    expect(rows.filter((s) => [init, command].includes(s.pid))).toHaveLength(1);
    const row = rows.find((s) => s.pid === withInit.pid)!;
    expect(row).toMatchObject({ ppid: process.pid, kind: 'init', command: ['sleep', '30'], commandPid: command, initPid: init, cgroup: null });
    expect(row.namespaces).toEqual({
      user: link(command, 'user'),
      pid: link(command, 'pid'),
      mount: link(command, 'mnt'),
      net: link(command, 'net'),
      uts: link(command, 'uts'),
      ipc: link(command, 'ipc'),
    });
    expect(row.processes.map((p) => p.pid).sort()).toEqual([init, command].filter((p) => p !== row.pid).sort());
  });

  it('a sandbox without an init: the command itself, in the namespaces it does not share with its parent', async () => {
    const row = (await lsJson()).find((s) => s.pid === noInit.pid);
    expect(row).toMatchObject({ kind: 'namespaces', command: ['sleep', '30'], commandPid: noInit.pid });
    // (every sandbox has a mount namespace of its own: its kernel paths are hidden or read-only there)
    expect(row!.namespaces).toEqual({ user: link(noInit.pid!, 'user'), mount: link(noInit.pid!, 'mnt'), net: link(noInit.pid!, 'net') });
  });

  it('the table: PID, NS, CGROUP, CPU, MEM, PIDS, COMMAND; -o picks columns', async () => {
    const r = await nsgroupsAsync('ls');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['PID', 'NS', 'CGROUP', 'CPU', 'MEM', 'PIDS', 'COMMAND']);
    expect(lines.find((l) => l.startsWith(`${withInit.pid} `))!.split(/\s+/)).toEqual([
      String(withInit.pid),
      'user,pid,mnt,net,uts,ipc',
      '-',
      '-',
      '-',
      '-',
      'sleep',
      '30',
    ]);
    const o = await nsgroupsAsync('ls', '-o', 'pid,ppid,command');
    expect(
      o.stdout
        .split('\n')
        .find((l) => l.startsWith(`${noInit.pid} `))!
        .split(/\s+/),
    ).toEqual([String(noInit.pid), String(process.pid), 'sleep', '30']);
  });

  it('-t TYPE and -p PID select; -p of a process in no sandbox exits 1', async () => {
    const net = (await lsJson('-t', 'net')).map((s) => s.pid);
    expect(net).toEqual(expect.arrayContaining([withInit.pid, noInit.pid]));
    const pidOnly = (await lsJson('-t', 'pid')).map((s) => s.pid);
    expect(pidOnly).toContain(withInit.pid);
    expect(pidOnly).not.toContain(noInit.pid);
    // -p with the command's pid finds the sandbox it is in
    for (const inside of byInnerPid(withInit.pid!).values()) expect((await lsJson('-p', String(inside))).map((s) => s.pid)).toEqual([withInit.pid]);
    const none = await nsgroupsAsync('ls', '-p', String(process.pid));
    expect(none.status).toBe(1);
    expect(none.stderr).toBe(`nsgroups ls: ${process.pid}: in no sandbox\n`);
  });

  it('--tree: the starting process, its sandboxes, their processes', async () => {
    const r = await nsgroupsAsync('ls', '--tree', '-o', 'pid,command');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').map((l) => l.replace(/\s+/g, ' ').trim());
    const parent = lines.findIndex((l) => l.startsWith(`${process.pid} `));
    expect(parent).toBeGreaterThan(0);
    const inside = byInnerPid(withInit.pid!);
    const mine = lines.slice(parent + 1, parent + 4);
    // the sandbox with an init: its row, then the process of the init or the command below it
    const top = mine.findIndex((l) => new RegExp(`^${withInit.pid} [├└]─ (nsgroups-init|sleep 30)$`).test(l));
    expect(top).toBeGreaterThanOrEqual(0);
    const other = [inside.get(1), inside.get(2)].find((p) => p !== withInit.pid);
    expect(mine[top + 1]).toMatch(new RegExp(`^${other} (│ )?└─ (nsgroups-init|sleep 30)$`));
    expect(mine).toContainEqual(expect.stringMatching(new RegExp(`^${noInit.pid} [├└]─ sleep 30$`)));
  });

  itRoot('a sandbox in a cgroup: its usage against its limits, as cgroupfs says', async () => {
    const name = `ls-test-${process.pid}`;
    const cg = await Cgroup.create(name, { pids: { max: 16 }, memory: { max: '64M' }, cpu: { max: 0.5 } });
    const p = await start({ namespaces: ['user', 'pid', 'mount'], cgroup: cg });
    try {
      const row = (await lsJson('-p', String(p.pid))).find((s) => s.pid === p.pid)!;
      const file = (controller: string, f: string) => fs.readFileSync(`/sys/fs/cgroup/${controller}/nsgroups/${name}/${f}`, 'utf8').trim();
      expect(row.cgroup).toMatchObject({
        name,
        memory: { max: 64 * 1024 * 1024 },
        pids: { current: Number(file('pids', 'pids.current')), max: 16 },
        cpu: { max: 0.5 },
      });
      expect(row.cgroup!.memory.current).toBeGreaterThan(0);
      const text = (await nsgroupsAsync('ls', '-p', String(p.pid))).stdout.trim().split('\n')[1].split(/\s+/);
      expect(text.slice(0, 3)).toEqual([String(p.pid), 'user,pid,mnt', name]);
      expect(text[3]).toMatch(/^\d+\.\d\ds\/0\.5cpu$/);
      expect(text[4]).toMatch(/^[\d.]+[KM]?\/64M$/);
      expect(text[5]).toBe(`${file('pids', 'pids.current')}/16`);
    } finally {
      await stop(p);
      await cg.delete();
    }
  });

  itRoot('a process in a cgroup of ours with no namespaces is a sandbox too', async () => {
    const cg = await Cgroup.create(`ls-plain-${process.pid}`);
    const p = await start({ cgroup: cg });
    try {
      const row = (await lsJson('-p', String(p.pid)))[0];
      expect(row).toMatchObject({ pid: p.pid, kind: 'cgroup', namespaces: {}, cgroup: { name: `ls-plain-${process.pid}` } });
    } finally {
      await stop(p);
      await cg.delete();
    }
  });
});
