// The spawn plan is defined once (src-native/child.h); the addon's reader refuses a plan with a
// missing, unknown or mistyped key, and the TypeScript declarations and lib/spawn/plan.ts must
// agree with it. A renamed field is then an error at the first spawn, never a silent default.
import * as fs from 'node:fs';
import type { NativeHandover, NativeJoin, NativeOp, NativePlan, NativeRlimit, NativeStdio } from '../types/native';
import { native } from '../lib/native';
import { resolveSpawn } from '../lib/spawn/options';
import { buildPlan } from '../lib/spawn/plan';

// Compile-time exhaustive lists: ts-jest fails to compile this file when a key is added to or
// removed from the declarations without being listed here.
const PLAN_KEYS = {
  cloneFlags: true,
  cgroupFd: true,
  procsFds: true,
  useVm: true,
  stdio: true,
  joins: true,
  nondumpable: true,
  unshareUser: true,
  unshareFlags: true,
  forkIntoPidns: true,
  init: true,
  unshareTime: true,
  unshareCgroupLate: true,
  earlyIds: true,
  earlyUid: true,
  earlyGid: true,
  ops: true,
  cwd: true,
  candidates: true,
  argv: true,
  inheritEnv: true,
  envp: true,
  setGroups: true,
  groups: true,
  setIds: true,
  uid: true,
  gid: true,
  pdeathsig: true,
  newSession: true,
  newKeyring: true,
  rlimits: true,
  dropCapabilities: true,
  keepCapabilities: true,
  noNewPrivs: true,
  seccompFilter: true,
  seccompFlags: true,
  park: true,
  seccompAtHandover: true,
} satisfies Record<keyof NativePlan, true>;
const HANDOVER_KEYS = {
  cwd: true,
  candidates: true,
  argv: true,
  inheritEnv: true,
  envp: true,
  stdio: true,
} satisfies Record<keyof NativeHandover, true>;
const OP_KEYS = {
  kind: true,
  source: true,
  target: true,
  fstype: true,
  data: true,
  flags: true,
  attr: true,
  mode: true,
  recursive: true,
  inRoot: true,
  noSymlinks: true,
} satisfies Record<keyof NativeOp, true>;
const JOIN_KEYS = { fd: true, nstype: true } satisfies Record<keyof NativeJoin, true>;
const STDIO_KEYS = { kind: true, fd: true, childReads: true } satisfies Record<keyof NativeStdio, true>;
const RLIMIT_KEYS = { resource: true, soft: true, hard: true } satisfies Record<keyof NativeRlimit, true>;

const schema = native().planSchema;
const keysOf = (fields: Array<[string, string]>): string[] => fields.map(([k]) => k).sort();

/** Does `value` have the JS type the reader wants for a field of `type`? */
function fits(type: string, value: unknown): boolean {
  const int = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  switch (type) {
    case 'BOOL':
      return typeof value === 'boolean';
    case 'I32':
      return int(value, -(2 ** 31), 2 ** 31 - 1);
    case 'U32':
      return int(value, 0, 2 ** 32 - 1);
    case 'U64':
      return int(value, 0, Number.MAX_SAFE_INTEGER);
    case 'STR':
      return value === null || typeof value === 'string';
    case 'STRS':
      return Array.isArray(value) && value.every((s) => typeof s === 'string');
    case 'U32S':
      return Array.isArray(value) && value.every((n) => int(n, 0, 2 ** 32 - 1));
    case 'OPS':
    case 'JOINS':
    case 'STDIO':
    case 'RLIMITS':
      return Array.isArray(value);
    case 'BYTES':
      return value instanceof Uint8Array;
    default:
      return false;
  }
}

function checkAgainst(fields: Array<[string, string]>, obj: Record<string, unknown>, where: string): void {
  expect(Object.keys(obj).sort()).toEqual(keysOf(fields));
  for (const [key, type] of fields) {
    if (!fits(type, obj[key])) throw new Error(`${where}.${key} is ${JSON.stringify(obj[key])}, not a ${type}`);
  }
}

it('the declarations list exactly the keys the addon reads', () => {
  expect(Object.keys(PLAN_KEYS).sort()).toEqual(keysOf(schema.plan));
  expect(Object.keys(OP_KEYS).sort()).toEqual(keysOf(schema.op));
  expect(Object.keys(JOIN_KEYS).sort()).toEqual(keysOf(schema.join));
  expect(Object.keys(STDIO_KEYS).sort()).toEqual(keysOf(schema.stdio));
  expect(Object.keys(RLIMIT_KEYS).sort()).toEqual(keysOf(schema.rlimit));
  expect(Object.keys(HANDOVER_KEYS).sort()).toEqual(keysOf(schema.handover));
});

describe('plans built by lib/spawn/plan.ts fit the schema', () => {
  const dir = fs.mkdtempSync('/tmp/nsgroups-schema-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cases: Array<[string, Record<string, unknown>]> = [
    ['no namespaces', {}],
    ['a sandbox with an init', { namespaces: ['user', 'pid', 'mount', 'net'], hostname: 'h' }],
    ['a rootfs with mounts', { namespaces: ['user', 'pid'], rootfs: dir, readonly: true, sysfs: true, mounts: [{ type: 'tmpfs', target: '/x', size: '1M' }] }],
    ['ids and groups', { namespaces: ['user'], user: { uid: 0, gid: 0, groups: [] } }],
    ['a time namespace', { namespaces: ['user', 'time'], timeOffsets: { boottime: 5 } }],
    ['least privilege relaxed', { namespaces: ['user'], capabilities: ['CAP_NET_RAW'], seccomp: { deny: ['chroot'] }, rlimits: { nofile: 64, fsize: '1M' } }],
  ];
  it.each(cases)('%s', (_name, options) => {
    const { plan } = buildPlan(resolveSpawn('true', [], options));
    const p = plan as unknown as Record<string, unknown>;
    checkAgainst(schema.plan, p, 'plan');
    for (const [i, op] of plan.ops.entries()) checkAgainst(schema.op, op as unknown as Record<string, unknown>, `plan.ops[${i}]`);
    for (const [i, s] of plan.stdio.entries()) checkAgainst(schema.stdio, s as unknown as Record<string, unknown>, `plan.stdio[${i}]`);
    for (const [i, r] of plan.rlimits.entries()) checkAgainst(schema.rlimit, r as unknown as Record<string, unknown>, `plan.rlimits[${i}]`);
  });
});

describe('the reader refuses a plan that does not fit, before anything is cloned', () => {
  const good = (): Record<string, unknown> => ({ ...buildPlan(resolveSpawn('true', [], { stdio: 'ignore' })).plan });
  const refuses = (plan: Record<string, unknown>, message: RegExp): void => {
    const before = fs
      .readdirSync(`/proc/self/task`)
      .map((t) => fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8'))
      .join(' ');
    expect(() => native().spawn(plan as unknown as NativePlan)).toThrow(message);
    const after = fs
      .readdirSync(`/proc/self/task`)
      .map((t) => fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8'))
      .join(' ');
    expect(after).toBe(before); // no child was made
  };

  it('a good plan spawns (the baseline for the cases below)', async () => {
    const r = native().spawn(good() as unknown as NativePlan);
    expect(r.pid).toBeGreaterThan(0);
    const exited = new Promise<void>((resolve) => {
      r.handle.start((...event) => {
        if (event[0] === 'exit') resolve();
      });
    });
    expect(r.handle.release()).toBe(0);
    await exited;
  });

  it('a missing key', () => {
    const plan = good();
    delete plan.noNewPrivs;
    refuses(plan, /plan lacks the key 'noNewPrivs'/);
  });

  it('an unknown key', () => {
    refuses({ ...good(), noNewPrivileges: true }, /plan has an unknown key 'noNewPrivileges'/);
  });

  it('a mistyped key: a number for a boolean, a float for an integer, a string for a number', () => {
    refuses({ ...good(), noNewPrivs: 1 }, /plan\.noNewPrivs must be a boolean, got number/);
    refuses({ ...good(), pdeathsig: 9.5 }, /plan\.pdeathsig must be a 32-bit integer/);
    refuses({ ...good(), cloneFlags: '0' }, /plan\.cloneFlags must be a non-negative integer below 2\^53, got string/);
    refuses({ ...good(), argv: ['true', 3] }, /plan\.argv\[1\] must be a string, got number/);
  });

  it('an op with a missing or unknown field, and an entry that is not an object', () => {
    const op = {
      kind: native().constants.ops.loopbackUp,
      source: null,
      target: null,
      fstype: null,
      data: null,
      flags: 0,
      attr: 0,
      mode: 0,
      recursive: false,
      inRoot: false,
      noSymlinks: false,
    };
    const { noSymlinks: _n, ...short } = op;
    refuses({ ...good(), ops: [short] }, /plan\.ops\[0\] lacks the key 'noSymlinks'/);
    refuses({ ...good(), ops: [{ ...op, a: 'x' }] }, /plan\.ops\[0\] has an unknown key 'a'/);
    refuses({ ...good(), ops: [op, 'mount'] }, /plan\.ops\[1\] must be an object, got string/);
    refuses({ ...good(), stdio: [{ kind: 'pipe', fd: -1 }] }, /plan\.stdio\[0\] lacks the key 'childReads'/);
  });

  it('a Buffer field given something else', () => {
    refuses({ ...good(), seccompFilter: [1, 2, 3] }, /plan\.seccompFilter must be a Buffer, got array/);
  });

  it('a string with a NUL byte', () => {
    refuses({ ...good(), cwd: '/tmp\0/x' }, /plan\.cwd must be a string without NUL bytes/);
  });
});
