// The CLI as users run it: the built dist/cli.cjs in its own process, its status and output.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const cliPath = path.join(__dirname, '..', '..', 'dist', 'cli.cjs');

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function nsgroups(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking this process's event loop (for a sandbox this process runs meanwhile). */
export function nsgroupsAsync(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Starts a Node fixture and resolves with it and the first line it prints (JSON). */
export function startFixture(script: string, arg: unknown): Promise<{ child: ChildProcess; report: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'fixtures', script), JSON.stringify(arg)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, report: JSON.parse(out.slice(0, nl)) });
    });
    child.on('exit', (code) => reject(new Error(`${script} exited ${code} before it was ready: ${err}`)));
  });
}

/** SIGKILLs a process we started and waits until it is reaped. */
export async function crash(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}
