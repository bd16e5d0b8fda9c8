// The filter compiler, instruction by instruction on a small profile, and by evaluation of the
// whole default profile for both architectures with an independent interpreter
// (test/helpers/bpf.ts). The kernel itself judges the same filters in seccomp.kernel.test.ts.
import { compileSeccomp, describeSeccompFilter, DEFAULT_DENY, resolveSeccomp, SeccompArch, SeccompProfile } from '../lib/seccomp';
import { syscallTable } from '../lib/seccomp/arch';
import { decode } from '../lib/seccomp/bpf';
import type { SyscallRule } from '../lib/seccomp/profile';
import { evaluate, Verdict } from './helpers/bpf';

const AUDIT = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
const I386 = 0x40000003;
const ARM = 0x40000028;
const EPERM = { errno: 1 };
const ENOSYS = { errno: 38 };
const CLONE_NEWUSER = 0x10000000;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
const ARCHES: SeccompArch[] = ['x86_64', 'aarch64'];

const tuples = (f: Buffer): number[][] => decode(f).map((i) => [i.code, i.jt, i.jf, i.k]);
const small: SeccompProfile = {
  kind: 'profile',
  errno: 1,
  log: false,
  rules: { reboot: { kind: 'deny' }, clone: { kind: 'denyIfFlags', arg: 0, mask: CLONE_NEWUSER }, clone3: { kind: 'enosys' } },
};

describe('a small profile, instruction by instruction', () => {
  it('x86_64: arch check, x32 refused, clone (an argument check), reboot, clone3', () => {
    const { filter, flags } = compileSeccomp(small, 'x86_64');
    expect(flags).toBe(0);
    expect(filter.length).toBe(16 * 8);
    // [code, jt, jf, k]; offsets are relative to the next instruction
    expect(tuples(filter)).toEqual([
      [0x20, 0, 0, 4], //              0 ld [4]             seccomp_data.arch
      [0x15, 1, 0, 0xc000003e], //     1 jeq AUDIT_ARCH_X86_64 ? 3 : 2
      [0x06, 0, 0, 0x80000000], //     2 ret KILL_PROCESS   another ABI (i386)
      [0x20, 0, 0, 0], //              3 ld [0]             seccomp_data.nr
      [0x45, 0, 1, 0x40000000], //     4 jset x32 bit ? 5 : 6
      [0x06, 0, 0, 0x80000000], //     5 ret KILL_PROCESS   the x32 ABI
      [0x15, 0, 4, 56], //             6 jeq clone ? 7 : 11
      [0x20, 0, 0, 16], //             7 ld [16]            args[0], low word
      [0x45, 0, 1, CLONE_NEWUSER], //  8 jset CLONE_NEWUSER ? 9 : 10
      [0x06, 0, 0, 0x00050001], //     9 ret ERRNO(EPERM)
      [0x06, 0, 0, 0x7fff0000], //    10 ret ALLOW
      [0x15, 0, 1, 169], //           11 jeq reboot ? 12 : 13
      [0x06, 0, 0, 0x00050001], //    12 ret ERRNO(EPERM)
      [0x15, 0, 1, 435], //           13 jeq clone3 ? 14 : 15
      [0x06, 0, 0, 0x00050026], //    14 ret ERRNO(ENOSYS)
      [0x06, 0, 0, 0x7fff0000], //    15 ret ALLOW
    ]);
    // the same bytes, as struct sock_filter in little-endian
    expect(filter.subarray(8, 16).toString('hex')).toBe('150001003e0000c0');
    expect(describeSeccompFilter(filter, 'x86_64').split('\n')).toEqual([
      '  0: ld   [4]                            ; arch',
      '  1: jeq  #0xc000003e  ? 3 : 2           ; AUDIT_ARCH_X86_64',
      '  2: ret  KILL_PROCESS',
      '  3: ld   [0]                            ; nr',
      '  4: jset #0x40000000  ? 5 : 6           ; x32 ABI bit',
      '  5: ret  KILL_PROCESS',
      '  6: jeq  #0x38        ? 7 : 11          ; clone',
      '  7: ld   [16]                           ; args[0] low',
      '  8: jset #0x10000000  ? 9 : 10          ; args[0] low',
      '  9: ret  ERRNO EPERM (1)',
      ' 10: ret  ALLOW',
      ' 11: jeq  #0xa9        ? 12 : 13         ; reboot',
      ' 12: ret  ERRNO EPERM (1)',
      ' 13: jeq  #0x1b3       ? 14 : 15         ; clone3',
      ' 14: ret  ERRNO ENOSYS (38)',
      ' 15: ret  ALLOW',
    ]);
  });

  it('aarch64: no x32 check, the generic numbers (reboot 142, clone 220, clone3 435)', () => {
    expect(tuples(compileSeccomp(small, 'aarch64').filter)).toEqual([
      [0x20, 0, 0, 4],
      [0x15, 1, 0, 0xc00000b7], // AUDIT_ARCH_AARCH64
      [0x06, 0, 0, 0x80000000],
      [0x20, 0, 0, 0],
      [0x15, 0, 1, 142], //        reboot
      [0x06, 0, 0, 0x00050001],
      [0x15, 0, 4, 220], //        clone
      [0x20, 0, 0, 16],
      [0x45, 0, 1, CLONE_NEWUSER],
      [0x06, 0, 0, 0x00050001],
      [0x06, 0, 0, 0x7fff0000],
      [0x15, 0, 1, 435], //        clone3
      [0x06, 0, 0, 0x00050026],
      [0x06, 0, 0, 0x7fff0000],
    ]);
  });

  it('the value rules: ioctl (low word one of) and personality (all 64 bits one of)', () => {
    const p: SeccompProfile = {
      kind: 'profile',
      errno: 13,
      log: true,
      rules: {
        ioctl: { kind: 'denyIfValue', arg: 1, values: [TIOCSTI, TIOCLINUX] },
        personality: { kind: 'denyUnlessValue', arg: 0, values: [0, 8] },
      },
    };
    const { filter, flags } = compileSeccomp(p, 'aarch64');
    expect(flags).toBe(2); // SECCOMP_FILTER_FLAG_LOG
    expect(tuples(filter).slice(4)).toEqual([
      [0x15, 0, 5, 29], //           4 jeq ioctl ? 5 : 10
      [0x20, 0, 0, 24], //           5 ld [24]  args[1] low
      [0x15, 1, 0, TIOCSTI], //      6 jeq TIOCSTI ? 8 : 7
      [0x15, 0, 1, TIOCLINUX], //    7 jeq TIOCLINUX ? 8 : 9
      [0x06, 0, 0, 0x0005000d], //   8 ret ERRNO(EACCES)
      [0x06, 0, 0, 0x7fff0000], //   9 ret ALLOW
      [0x15, 0, 7, 92], //          10 jeq personality ? 11 : 18
      [0x20, 0, 0, 20], //          11 ld [20]  args[0] high
      [0x15, 0, 3, 0], //           12 jeq 0 ? 13 : 16
      [0x20, 0, 0, 16], //          13 ld [16]  args[0] low
      [0x15, 2, 0, 0], //           14 jeq 0 ? 17 : 15
      [0x15, 1, 0, 8], //           15 jeq 8 ? 17 : 16
      [0x06, 0, 0, 0x0005000d], //  16 ret ERRNO(EACCES)
      [0x06, 0, 0, 0x7fff0000], //  17 ret ALLOW
      [0x06, 0, 0, 0x7fff0000], //  18 ret ALLOW (the leaf's miss)
    ]);
  });
});

// What the default profile should answer, from its own data (the compiler is what is tested).
function expected(rule: SyscallRule | undefined, args: readonly bigint[], errno = 1): Verdict {
  if (!rule) return 'ALLOW';
  const arg = (i: number): bigint => args[i] ?? 0n;
  const low = (i: number): number => Number(arg(i) & 0xffffffffn);
  switch (rule.kind) {
    case 'deny':
      return { errno };
    case 'enosys':
      return ENOSYS;
    case 'denyIfFlags':
      return (low(rule.arg) & rule.mask) !== 0 ? { errno } : 'ALLOW';
    case 'denyIfValue':
      return rule.values.includes(low(rule.arg)) ? { errno } : 'ALLOW';
    case 'denyUnlessValue':
      return rule.values.some((v) => BigInt(v) === arg(rule.arg)) ? 'ALLOW' : { errno };
  }
}

const rules = new Map(DEFAULT_DENY.map((e) => [e.name, e.rule]));

describe.each(ARCHES)('the default profile on %s (interpreted)', (arch) => {
  const { filter } = compileSeccomp(resolveSeccomp('default')!, arch);
  const table = syscallTable(arch);
  const nr = (name: string): number => table[name];
  const run = (n: number, args: (bigint | number)[] = [], a: number = AUDIT[arch]): Verdict => evaluate(filter, { nr: n, arch: a, args });

  it('is small: well under BPF_MAXINSNS', () => {
    expect(filter.length / 8).toBeLessThan(150);
  });

  it('every call in the table gets its rule (zero arguments), every other number is allowed', () => {
    const byNr = new Map(Object.entries(table).map(([n, v]) => [v, n]));
    for (let n = 0; n < 1024; n++) {
      const name = byNr.get(n);
      expect([name ?? n, run(n)]).toEqual([name ?? n, expected(name ? rules.get(name) : undefined, [])]);
    }
  });

  it('every denied call that exists here answers EPERM (clone3: ENOSYS)', () => {
    for (const e of DEFAULT_DENY) {
      if (table[e.name] === undefined) continue;
      if (e.rule.kind === 'deny') expect([e.name, run(nr(e.name))]).toEqual([e.name, EPERM]);
      if (e.rule.kind === 'enosys') expect([e.name, run(nr(e.name))]).toEqual([e.name, ENOSYS]);
    }
  });

  it('another architecture is killed, whatever the call', () => {
    for (const other of [I386, ARM, arch === 'x86_64' ? AUDIT.aarch64 : AUDIT.x86_64, 0]) {
      for (const n of [0, 1, nr('getpid'), nr('execve'), nr('clone3'), 511]) expect(run(n, [], other)).toBe('KILL_PROCESS');
    }
  });

  if (arch === 'x86_64') {
    it('the x32 ABI (nr with bit 30) is killed, and so is nr -1 (a tracer\'s "skip")', () => {
      for (const n of [0, nr('getpid'), nr('execve'), 512, 547]) expect(run(0x40000000 | n)).toBe('KILL_PROCESS');
      expect(run(-1)).toBe('KILL_PROCESS');
    });
  }

  it('clone: refused with CLONE_NEWUSER in the low word of args[0], whatever else', () => {
    const SIGCHLD = 17;
    expect(run(nr('clone'), [SIGCHLD])).toBe('ALLOW');
    expect(run(nr('clone'), [0x00010000 | 0x00000100 | 0x00200000 | 0x01000000])).toBe('ALLOW'); // a thread
    expect(run(nr('clone'), [0x7e020000 & ~CLONE_NEWUSER])).toBe('ALLOW'); // every other namespace
    expect(run(nr('clone'), [CLONE_NEWUSER])).toEqual(EPERM);
    expect(run(nr('clone'), [CLONE_NEWUSER | SIGCHLD | 0x20000000])).toEqual(EPERM);
    expect(run(nr('clone'), [(1n << 32n) | BigInt(CLONE_NEWUSER)])).toEqual(EPERM); // high word: the kernel ignores it
    expect(run(nr('clone'), [0, CLONE_NEWUSER])).toBe('ALLOW'); // in another argument: not the flags
  });

  it('unshare: refused with CLONE_NEWUSER, not with the other namespaces', () => {
    expect(run(nr('unshare'), [0x00020000])).toBe('ALLOW'); // CLONE_NEWNS
    expect(run(nr('unshare'), [0x7e020000 & ~CLONE_NEWUSER])).toBe('ALLOW');
    expect(run(nr('unshare'), [CLONE_NEWUSER])).toEqual(EPERM);
    expect(run(nr('unshare'), [CLONE_NEWUSER | 0x00020000])).toEqual(EPERM);
  });

  it('clone3: ENOSYS whatever its arguments (the flags are in memory)', () => {
    expect(run(nr('clone3'), [0x1000, 88])).toEqual(ENOSYS);
    expect(run(nr('clone3'), [0, 0])).toEqual(ENOSYS);
  });

  it('ioctl: TIOCSTI and TIOCLINUX in the low word of args[1] are refused, the rest pass', () => {
    expect(run(nr('ioctl'), [0, TIOCSTI])).toEqual(EPERM);
    expect(run(nr('ioctl'), [5, TIOCLINUX])).toEqual(EPERM);
    expect(run(nr('ioctl'), [0, (0xdeadn << 32n) | BigInt(TIOCSTI)])).toEqual(EPERM); // the kernel reads cmd as 32 bits
    for (const cmd of [0x5401 /* TCGETS */, 0x541b /* FIONREAD */, 0x5413 /* TIOCGWINSZ */, 0x541d /* TIOCCONS */, 0x40045431, 0]) {
      expect(run(nr('ioctl'), [0, cmd])).toBe('ALLOW');
    }
    expect(run(nr('ioctl'), [TIOCSTI, 0x5401])).toBe('ALLOW'); // TIOCSTI's value as the fd: not the command
  });

  it('personality: only 0, 8, 0x20000, 0x20008 and the query pass, compared on all 64 bits', () => {
    for (const v of [0, 8, 0x20000, 0x20008, 0xffffffff]) expect(run(nr('personality'), [v])).toBe('ALLOW');
    for (const v of [0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */, 0x0200000 /* ADDR_COMPAT_LAYOUT */, 0x8000000, 1]) {
      expect(run(nr('personality'), [v])).toEqual(EPERM);
    }
    expect(run(nr('personality'), [1n << 32n])).toEqual(EPERM);
    expect(run(nr('personality'), [0xffffffffffffffffn])).toEqual(EPERM);
  });

  it('what a normal program and the spawn itself use is allowed', () => {
    for (const name of [
      'read',
      'write',
      'openat',
      'close',
      'mmap',
      'mprotect',
      'brk',
      'execve',
      'execveat',
      'exit_group',
      'exit',
      'rt_sigprocmask',
      'rt_sigaction',
      'rt_sigreturn',
      'futex',
      'wait4',
      'pipe2',
      'dup3',
      'fcntl',
      'getpid',
      'prctl',
      'seccomp',
      'socket',
      'mount',
      'setns',
      'ptrace',
      'adjtimex',
      'clock_adjtime',
      'getrandom',
      'pidfd_open',
      'close_range',
      'statx',
      'newfstatat',
      'set_robust_list',
      'rseq',
    ]) {
      expect([name, run(nr(name), [0, 0, 0])]).toEqual([name, 'ALLOW']);
    }
  });
});

describe('changed profiles (interpreted)', () => {
  const arch: SeccompArch = 'x86_64';
  const table = syscallTable(arch);
  const run = (f: Buffer, name: string, args: (bigint | number)[] = []): Verdict => evaluate(f, { nr: table[name], arch: AUDIT[arch], args });
  const compile = (v: unknown): Buffer => compileSeccomp(resolveSeccomp(v)!, arch).filter;

  it('errno: every refusal returns it, clone3 still ENOSYS', () => {
    const f = compile({ errno: 'EACCES' });
    expect(run(f, 'reboot')).toEqual({ errno: 13 });
    expect(run(f, 'clone', [CLONE_NEWUSER])).toEqual({ errno: 13 });
    expect(run(f, 'ioctl', [0, TIOCSTI])).toEqual({ errno: 13 });
    expect(run(f, 'personality', [0x40000])).toEqual({ errno: 13 });
    expect(run(f, 'clone3')).toEqual(ENOSYS);
  });

  it('deny adds calls; allow takes them out (argument checks too)', () => {
    const f = compile({ deny: ['mount', 'ptrace', 'open'], allow: ['ioctl', 'clone', 'reboot'] });
    expect(run(f, 'mount')).toEqual(EPERM);
    expect(run(f, 'ptrace')).toEqual(EPERM);
    expect(run(f, 'reboot')).toBe('ALLOW');
    expect(run(f, 'ioctl', [0, TIOCSTI])).toBe('ALLOW');
    expect(run(f, 'clone', [CLONE_NEWUSER])).toBe('ALLOW');
    expect(run(f, 'unshare', [CLONE_NEWUSER])).toEqual(EPERM);
    expect(run(f, 'open')).toEqual(EPERM);
  });

  it("a call one architecture lacks is simply not in that architecture's filter", () => {
    const p = resolveSeccomp({ deny: ['open', 'mount'] })!;
    const arm = compileSeccomp(p, 'aarch64').filter;
    const plain = compileSeccomp(resolveSeccomp({ deny: ['mount'] })!, 'aarch64').filter;
    expect(arm.equals(plain)).toBe(true); // aarch64 has openat only
    expect(evaluate(arm, { nr: syscallTable('aarch64').mount, arch: AUDIT.aarch64 })).toEqual(EPERM);
  });

  it('deny of a call the profile already checks keeps its rule', () => {
    const f = compile({ deny: ['clone', 'clone3', 'ioctl'] });
    expect(run(f, 'clone', [17])).toBe('ALLOW');
    expect(run(f, 'clone', [CLONE_NEWUSER])).toEqual(EPERM);
    expect(run(f, 'clone3')).toEqual(ENOSYS);
    expect(run(f, 'ioctl', [0, 0x5401])).toBe('ALLOW');
  });

  it('log sets SECCOMP_FILTER_FLAG_LOG and changes no instruction', () => {
    const plain = compileSeccomp(resolveSeccomp({})!, arch);
    const logged = compileSeccomp(resolveSeccomp({ log: true })!, arch);
    expect([plain.flags, logged.flags]).toEqual([0, 2]);
    expect(logged.filter.equals(plain.filter)).toBe(true);
  });

  it('a raw filter passes through untouched, with no flags', () => {
    const raw = compileSeccomp(resolveSeccomp('default')!, 'aarch64').filter;
    const c = compileSeccomp(resolveSeccomp(raw)!, arch);
    expect(c.filter.equals(raw)).toBe(true);
    expect(c.filter).not.toBe(raw);
    expect(c.flags).toBe(0);
  });
});

// The search tree, against random profiles: every number, every rule kind, both architectures,
// sizes from one call to every call (the largest need `ja` to step over wide subtrees).
describe('random profiles agree with their rules (interpreted)', () => {
  let seed = 0x2545f491;
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const ruleKinds = (): SyscallRule => {
    switch (rand(5)) {
      case 0:
        return { kind: 'enosys' };
      case 1:
        return { kind: 'denyIfFlags', arg: rand(6) as 0, mask: 1 << rand(32) };
      case 2:
        return { kind: 'denyIfValue', arg: rand(6) as 0, values: [rand(4), 0xffffffff] };
      case 3:
        return { kind: 'denyUnlessValue', arg: rand(6) as 0, values: [rand(4)] };
      default:
        return { kind: 'deny' };
    }
  };

  it.each(ARCHES)('%s', (arch) => {
    const names = Object.keys(syscallTable(arch));
    for (const size of [1, 2, 4, 5, 9, 17, 40, 100, names.length]) {
      const pick = size === names.length ? names : Array.from({ length: size }, () => names[rand(names.length)]);
      const profile: SeccompProfile = { kind: 'profile', errno: 1 + rand(4000), log: false, rules: Object.fromEntries(pick.map((n) => [n, ruleKinds()])) };
      const { filter } = compileSeccomp(profile, arch);
      expect(filter.length / 8).toBeLessThanOrEqual(4096);
      const byNr = new Map(Object.entries(syscallTable(arch)).map(([n, v]) => [v, n]));
      for (let n = 0; n < 600; n++) {
        const name = byNr.get(n);
        const rule = name ? profile.rules[name] : undefined;
        for (const args of [[], [0n, 1n, 2n, 3n, 0xffffffffn, 1n << 40n], Array.from({ length: 6 }, () => BigInt(rand(4)))]) {
          const got = evaluate(filter, { nr: n, arch: AUDIT[arch], args });
          if (JSON.stringify(got) !== JSON.stringify(expected(rule, args, profile.errno))) {
            throw new Error(`${arch} size ${size}: nr ${n} (${name}) args ${args} gave ${JSON.stringify(got)}, rule ${JSON.stringify(rule)}`);
          }
        }
      }
      if (size === names.length) expect(describeSeccompFilter(filter, arch)).toMatch(/: ja {3}\d+/);
    }
  });
});

describe('describeSeccompFilter', () => {
  it('names every opcode seccomp accepts', () => {
    const ins = (code: number, jt: number, jf: number, k: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(code, 0);
      b[2] = jt;
      b[3] = jf;
      b.writeUInt32LE(k >>> 0, 4);
      return b;
    };
    const program = Buffer.concat([
      ins(0x20, 0, 0, 24), // ld [24]
      ins(0x02, 0, 0, 3), // st M[3]
      ins(0x61, 0, 0, 3), // ldx M[3]
      ins(0x00, 0, 0, 7), // ld #7
      ins(0x0c, 0, 0, 0), // add x
      ins(0x54, 0, 0, 0xff), // and #0xff
      ins(0x84, 0, 0, 0), // neg
      ins(0x07, 0, 0, 0), // tax
      ins(0x87, 0, 0, 0), // txa
      ins(0x80, 0, 0, 0), // ld #len
      ins(0x1d, 0, 1, 0), // jeq x
      ins(0x05, 0, 0, 0), // ja +0
      ins(0x16, 0, 0, 0), // ret a
      ins(0x28, 0, 0, 0), // ld h [0]: not for seccomp
    ]);
    expect(describeSeccompFilter(program).split('\n')).toEqual([
      '  0: ld   [24]                           ; args[1] low',
      '  1: st   M[3]',
      '  2: ldx  M[3]',
      '  3: ld   #0x7',
      '  4: add  x',
      '  5: and  #0xff',
      '  6: neg',
      '  7: tax',
      '  8: txa',
      '  9: ld   #len                           ; 64, sizeof(struct seccomp_data)',
      ' 10: jeq  x            ? 11 : 12',
      ' 11: ja   12',
      ' 12: ret  a',
      ' 13: .insn code=0x28 jt=0 jf=0 k=0x0     ; not an instruction seccomp accepts',
    ]);
  });

  it('the default profile: one line per instruction, and the calls named', () => {
    const { filter } = compileSeccomp(resolveSeccomp('default')!, 'x86_64');
    const lines = describeSeccompFilter(filter, 'x86_64').split('\n');
    expect(lines.length).toBe(filter.length / 8);
    for (const e of DEFAULT_DENY) expect(lines.some((l) => l.endsWith(`; ${e.name}`))).toBe(true);
  });
});
