// The published ESM types (dist/index.d.mts), as a user's strict TypeScript sees them:
// scripts/check-ts.js compiles this file against the built package; every @ts-expect-error
// must be an error, and everything else must compile.
import nsgroups, { createPool, NsgroupsError, run, spawn, type SandboxProcess } from 'nsgroups';
import type { Readable, Writable } from 'node:stream';

// the default export is the runtime's module object
const same: typeof spawn = nsgroups.spawn;
void same;

// stdio 'pipe' (the default): the streams are there
const p = spawn('cat');
p.stdout.pipe(process.stdout);
const stdin: Writable = p.stdin;
stdin.end('x');
const piped = spawn('cat', [], { stdio: 'pipe' });
const out: Readable = piped.stdout;
void out;

// stdio spelled out per fd: each stream typed by its entry
const q = spawn('cat', [], { stdio: ['ignore', 'pipe', 'inherit'] });
const qOut: Readable = q.stdout;
void qOut;
// @ts-expect-error stdin is 'ignore': no stream
q.stdin.end();
// @ts-expect-error stderr is 'inherit': no stream
q.stderr.pipe(process.stderr);

// events: the listeners' arguments are typed from the event's name (not any)
type IsAny<T> = 0 extends 1 & T ? true : false;
p.on('exit', (code, signal) => {
  const c: number | null = code;
  const s: NodeJS.Signals | null = signal;
  const notAny: [false, false] = [false as IsAny<typeof code>, false as IsAny<typeof signal>];
  void [c, s, notAny];
});
p.once('close', (code, signal) => {
  const notAny: [false, false] = [false as IsAny<typeof code>, false as IsAny<typeof signal>];
  void [code, signal, notAny];
});
p.on('spawn', () => {});
p.on('error', (err) => {
  const e: Error = err;
  const notAny: false = false as IsAny<typeof err>;
  void [e, notAny];
});
p.addListener('exit', (code) => void (code satisfies number | null));
p.off('exit', () => {});
p.prependListener('close', (code) => void (code satisfies number | null));
// @ts-expect-error 'exit' gives a number or null: not a string
p.on('exit', (code) => void (code satisfies string));
// the idiom of child_process: a Promise's resolve as a listener
await new Promise((resolve) => p.once('spawn', resolve));

// internals are not in the published types
// @ts-expect-error _start is internal
p._start();
// @ts-expect-error _handOver is internal
void (p as SandboxProcess)._handOver;

// an error's fields
const r = await run('true').catch((e: unknown) => (e instanceof NsgroupsError ? e.code : null));
void r;

// a pool's spawn: streams typed by the stdio given to it
const pool = await createPool({ size: 1 });
const pp = pool.spawn('cat', [], { stdio: 'pipe' });
pp.stdout.pipe(process.stdout);
const pt = pool.spawn('cat', [], { stdio: ['pipe', 'ignore', 'pipe'] });
pt.stdin.end();
// @ts-expect-error stdout is 'ignore'
pt.stdout.pipe(process.stdout);
// @ts-expect-error without stdio the pool's default applies: maybe not a pipe
pool.spawn('cat').stdout.pipe(process.stdout);
