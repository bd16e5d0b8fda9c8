// A disassembler for seccomp filters: one line per instruction, jump targets as absolute
// instruction numbers, and comments that name what a load reads and, where the accumulator holds
// the system call number, which call a constant is. For debugging a filter and for the tests.
import { AUDIT_ARCH_NAMES, SeccompArch, syscallName, X32_SYSCALL_BIT } from './arch';
import * as B from './bpf';
import { errnoLabel } from './options';

const ALU_NAMES: Record<number, string> = {
  [B.BPF_ADD]: 'add',
  [B.BPF_SUB]: 'sub',
  [B.BPF_MUL]: 'mul',
  [B.BPF_DIV]: 'div',
  [B.BPF_OR]: 'or',
  [B.BPF_AND]: 'and',
  [B.BPF_LSH]: 'lsh',
  [B.BPF_RSH]: 'rsh',
  [B.BPF_XOR]: 'xor',
};
const JMP_NAMES: Record<number, string> = { [B.BPF_JEQ]: 'jeq', [B.BPF_JGT]: 'jgt', [B.BPF_JGE]: 'jge', [B.BPF_JSET]: 'jset' };

/** What a seccomp_data offset is: 'nr', 'arch', 'args[1] low', ... */
export function dataField(offset: number): string {
  if (offset === B.OFFSET_NR) return 'nr';
  if (offset === B.OFFSET_ARCH) return 'arch';
  if (offset === B.OFFSET_IP) return 'instruction_pointer low';
  if (offset === B.OFFSET_IP + 4) return 'instruction_pointer high';
  const i = Math.floor((offset - 16) / 8);
  return `args[${i}] ${(offset - 16) % 8 === 0 ? 'low' : 'high'}`;
}

/** 'ALLOW', 'ERRNO EPERM (1)', 'KILL_PROCESS', ... */
export function describeAction(k: number): string {
  const action = (k & B.SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = k & B.SECCOMP_RET_DATA;
  switch (action) {
    case B.SECCOMP_RET_KILL_PROCESS:
      return 'KILL_PROCESS';
    case B.SECCOMP_RET_KILL_THREAD:
      return 'KILL_THREAD';
    case B.SECCOMP_RET_TRAP:
      return `TRAP ${data}`;
    case B.SECCOMP_RET_ERRNO:
      return `ERRNO ${errnoLabel(data)} (${data})`;
    case B.SECCOMP_RET_USER_NOTIF:
      return 'USER_NOTIF';
    case B.SECCOMP_RET_TRACE:
      return `TRACE ${data}`;
    case B.SECCOMP_RET_LOG:
      return 'LOG';
    case B.SECCOMP_RET_ALLOW:
      return 'ALLOW';
    default:
      return `#0x${(k >>> 0).toString(16)}`;
  }
}

const hex = (k: number): string => `#0x${(k >>> 0).toString(16)}`;

/**
 * One line per instruction, e.g.
 * `  3: ld   [0]                          ; nr` and `  6: jeq  #0x1b5      ? 7 : 8           ; clone3`.
 * With `arch`, constants compared against the system call number are named.
 * @param filter the bytes of a struct sock_filter array (8 bytes per instruction)
 * @returns the listing, one instruction a line
 * @example
 * console.log(describeSeccompFilter(seccompFilter('default')!.filter, 'x86_64'));
 */
export function describeSeccompFilter(filter: Uint8Array, arch?: SeccompArch): string {
  const insns = B.decode(filter);
  const held = accumulatorContents(insns);
  return insns
    .map((ins, pc) => {
      const [text, note] = describeInsn(ins, pc, held[pc], arch);
      const line = `${String(pc).padStart(3)}: ${text}`;
      return note ? `${line.padEnd(40)} ; ${note}` : line;
    })
    .join('\n');
}

function describeInsn(ins: B.Insn, pc: number, a: string | null, arch?: SeccompArch): [string, string?] {
  const { code, jt, jf, k } = ins;
  const op = (m: string, arg = ''): string => (arg ? `${m.padEnd(4)} ${arg}` : m);
  const cls = code & 0x07;
  switch (cls) {
    case B.BPF_LD:
    case B.BPF_LDX: {
      const m = cls === B.BPF_LD ? 'ld' : 'ldx';
      const mode = code & 0xe0;
      if (code === (B.BPF_LD | B.BPF_W | B.BPF_ABS)) return [op(m, `[${k}]`), dataField(k)];
      if (mode === B.BPF_IMM && (code & 0x18) === B.BPF_W) return [op(m, hex(k))];
      if (mode === B.BPF_MEM && (code & 0x18) === B.BPF_W) return [op(m, `M[${k}]`)];
      if (mode === B.BPF_LEN && (code & 0x18) === B.BPF_W) return [op(m, '#len'), `${B.SECCOMP_DATA_SIZE}, sizeof(struct seccomp_data)`];
      break;
    }
    case B.BPF_ST:
      if (code === B.BPF_ST) return [op('st', `M[${k}]`)];
      break;
    case B.BPF_STX:
      if (code === B.BPF_STX) return [op('stx', `M[${k}]`)];
      break;
    case B.BPF_ALU: {
      const o = code & 0xf0;
      if (code === (B.BPF_ALU | B.BPF_NEG)) return [op('neg')];
      const name = ALU_NAMES[o];
      if (name) return [op(name, code & B.BPF_X ? 'x' : hex(k))];
      break;
    }
    case B.BPF_JMP: {
      const o = code & 0xf0;
      if (o === B.BPF_JA) return [op('ja', String(pc + 1 + k))];
      const name = JMP_NAMES[o];
      if (!name) break;
      const target = `? ${pc + 1 + jt} : ${pc + 1 + jf}`;
      if (code & B.BPF_X) return [`${op(name, 'x').padEnd(18)}${target}`];
      return [`${op(name, hex(k)).padEnd(18)}${target}`, constantNote(o, k, a, arch)];
    }
    case B.BPF_RET:
      if (code === (B.BPF_RET | B.BPF_K)) return [op('ret', describeAction(k))];
      if (code === (B.BPF_RET | B.BPF_A)) return [op('ret', 'a')];
      break;
    case B.BPF_MISC:
      if (code === (B.BPF_MISC | B.BPF_TAX)) return [op('tax')];
      if (code === (B.BPF_MISC | B.BPF_TXA)) return [op('txa')];
      break;
  }
  return [op('.insn', `code=0x${code.toString(16)} jt=${jt} jf=${jf} k=0x${(k >>> 0).toString(16)}`), 'not an instruction seccomp accepts'];
}

function constantNote(o: number, k: number, a: string | null, arch?: SeccompArch): string | undefined {
  if (a === 'arch') return AUDIT_ARCH_NAMES[k >>> 0];
  if (a !== 'nr') return a ?? undefined;
  if (o === B.BPF_JSET && k === X32_SYSCALL_BIT) return 'x32 ABI bit';
  const name = arch ? syscallName(k, arch) : undefined;
  if (o === B.BPF_JEQ) return name ?? `nr ${k}`;
  if (o === B.BPF_JGE) return `nr >= ${k}${name ? ` (${name})` : ''}`;
  if (o === B.BPF_JGT) return `nr > ${k}${name ? ` (${name})` : ''}`;
  return `nr & ${hex(k).slice(1)}`;
}

/**
 * What the accumulator holds when each instruction runs: a seccomp_data field, or null (mixed or
 * computed). BPF jumps only forward, so one pass in order sees every predecessor first.
 */
function accumulatorContents(insns: readonly B.Insn[]): (string | null)[] {
  const into: (string | null | undefined)[] = new Array(insns.length).fill(undefined);
  into[0] = null;
  const flow = (to: number, v: string | null): void => {
    if (to >= insns.length) return;
    into[to] = into[to] === undefined || into[to] === v ? v : null;
  };
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc];
    const cur = into[pc] ?? null;
    const cls = code & 0x07;
    if (cls === B.BPF_RET) continue;
    if (cls === B.BPF_JMP) {
      if ((code & 0xf0) === B.BPF_JA) flow(pc + 1 + k, cur);
      else {
        flow(pc + 1 + jt, cur);
        flow(pc + 1 + jf, cur);
      }
      continue;
    }
    let next: string | null = cur;
    if (code === (B.BPF_LD | B.BPF_W | B.BPF_ABS)) next = dataField(k);
    else if (cls === B.BPF_LD || cls === B.BPF_ALU || code === (B.BPF_MISC | B.BPF_TXA)) next = null;
    flow(pc + 1, next);
  }
  return into.map((v) => v ?? null);
}
