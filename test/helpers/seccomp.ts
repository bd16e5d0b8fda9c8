// The seccomp fixtures, built once per test process with cc -static: seccomp-exec (installs a
// filter from a file and execs a command under it) and syscall-probe (tries system calls with
// harmless arguments, prints what the kernel answered). Static, so they also run inside a
// sandbox's own root filesystem.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SeccompFixtures {
  dir: string;
  exec: string;
  probe: string;
}

let built: SeccompFixtures | undefined;

export function buildSeccompFixtures(): SeccompFixtures {
  if (built) return built;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-seccomp-'));
  fs.chmodSync(dir, 0o755);
  const cc = (src: string, out: string): string => {
    const file = path.join(dir, out);
    execFileSync('cc', ['-static', '-O2', '-Wall', '-Werror', '-o', file, path.join(__dirname, '../fixtures', src)], { stdio: 'pipe' });
    return file;
  };
  built = { dir, exec: cc('seccomp-exec.c', 'seccomp-exec'), probe: cc('syscall-probe.c', 'syscall-probe') };
  return built;
}

export function removeSeccompFixtures(): void {
  if (built) fs.rmSync(built.dir, { recursive: true, force: true });
  built = undefined;
}

/** Writes a filter where seccomp-exec can read it; returns the path. */
export function writeFilter(filter: Buffer, name = 'filter.bpf'): string {
  const file = path.join(buildSeccompFixtures().dir, name);
  fs.writeFileSync(file, filter);
  return file;
}

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs COMMAND under the filter (null: no filter, no_new_privs only). */
export function underFilter(filter: Buffer | null, flags: number, command: string[], input?: string): Run {
  const { exec } = buildSeccompFixtures();
  const file = filter ? writeFilter(filter, `filter-${process.pid}-${Math.random().toString(36).slice(2)}.bpf`) : '-';
  const r = spawnSync(exec, [file, String(flags), ...command], { encoding: 'utf8', timeout: 60_000, input });
  if (filter) fs.rmSync(file, { force: true });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** syscall-probe NAME... → { NAME: 'ok' | 'EPERM' | 'killed:SIGSYS' | 'n/a' | ... } */
export function probe(names: readonly string[], filter: Buffer | null, flags = 0, probePath?: string): Record<string, string> {
  const r = underFilter(filter, flags, [probePath ?? buildSeccompFixtures().probe, ...names]);
  if (r.status !== 0) throw new Error(`syscall-probe exited ${r.status ?? r.signal}: ${r.stderr}${r.stdout}`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const [name, result] = line.split(' ');
    out[name] = result;
  }
  return out;
}

export function probeNames(): string[] {
  return execFileSync(buildSeccompFixtures().probe, ['--list'], { encoding: 'utf8' }).trim().split('\n');
}
