// Classic BPF as seccomp takes it: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }, eight
// bytes, in the host's byte order (both our architectures are little-endian). The constants are
// the uapi ones (<linux/bpf_common.h>, <linux/filter.h>, <linux/seccomp.h>); the checks below are
// the kernel's: bpf_check_classic() (net/core/filter.c) and seccomp_check_filter() (kernel/seccomp.c).

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// instruction classes
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
// ld/ldx size and mode
export const BPF_W = 0x00;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
// alu and jmp operations, and their source
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_XOR = 0xa0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10; // ret source
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

export const BPF_MAXINSNS = 4096;
export const BPF_MEMWORDS = 16;
export const SOCK_FILTER_SIZE = 8;

// seccomp(2) return actions (the high 16 bits; the low 16 are data) and filter flags.
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_FILTER_FLAG_LOG = 1 << 1;
/** the largest errno the kernel passes on from SECCOMP_RET_ERRNO (it caps the data at MAX_ERRNO) */
export const MAX_ERRNO = 4095;

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
export const SECCOMP_DATA_SIZE = 64;
export const OFFSET_NR = 0;
export const OFFSET_ARCH = 4;
export const OFFSET_IP = 8;
/** the low 32 bits of args[i] (little-endian: the first word) */
export const argLow = (i: number): number => 16 + 8 * i;
/** the high 32 bits of args[i] */
export const argHigh = (i: number): number => 20 + 8 * i;

export const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k: k >>> 0 });
export const jump = (code: number, k: number, jt: number, jf: number): Insn => ({ code, jt, jf, k: k >>> 0 });
export const ldAbs = (offset: number): Insn => stmt(BPF_LD | BPF_W | BPF_ABS, offset);
export const ret = (k: number): Insn => stmt(BPF_RET | BPF_K, k);
export const ja = (k: number): Insn => stmt(BPF_JMP | BPF_JA, k);
export const jeq = (k: number, jt: number, jf: number): Insn => jump(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
export const jge = (k: number, jt: number, jf: number): Insn => jump(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf);
export const jset = (k: number, jt: number, jf: number): Insn => jump(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf);

export function encode(insns: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * SOCK_FILTER_SIZE);
  insns.forEach((ins, i) => {
    const o = i * SOCK_FILTER_SIZE;
    buf.writeUInt16LE(ins.code, o);
    buf.writeUInt8(ins.jt, o + 2);
    buf.writeUInt8(ins.jf, o + 3);
    buf.writeUInt32LE(ins.k >>> 0, o + 4);
  });
  return buf;
}

export function decode(filter: Uint8Array): Insn[] {
  const buf = Buffer.from(filter.buffer, filter.byteOffset, filter.byteLength);
  const insns: Insn[] = [];
  for (let o = 0; o + SOCK_FILTER_SIZE <= buf.length; o += SOCK_FILTER_SIZE) {
    insns.push({ code: buf.readUInt16LE(o), jt: buf[o + 2], jf: buf[o + 3], k: buf.readUInt32LE(o + 4) });
  }
  return insns;
}

/** The codes seccomp_check_filter() accepts (a subset of what bpf_check_classic() knows). */
export const SECCOMP_CODES: ReadonlySet<number> = new Set([
  BPF_LD | BPF_W | BPF_ABS,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LDX | BPF_W | BPF_LEN,
  BPF_RET | BPF_K,
  BPF_RET | BPF_A,
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH].flatMap((op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X]),
  BPF_ALU | BPF_NEG,
  BPF_LD | BPF_IMM,
  BPF_LDX | BPF_IMM,
  BPF_MISC | BPF_TAX,
  BPF_MISC | BPF_TXA,
  BPF_LD | BPF_MEM,
  BPF_LDX | BPF_MEM,
  BPF_ST,
  BPF_STX,
  BPF_JMP | BPF_JA,
  ...[BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

export const isConditionalJump = (code: number): boolean => (code & 0x07) === BPF_JMP && (code & 0xf0) !== BPF_JA;

/**
 * Why the kernel would refuse this program with EINVAL, or null if it would take it: the length,
 * the codes seccomp allows, in-bounds aligned loads of seccomp_data, no division by a constant
 * zero, no shift by 32 or more, scratch memory indices, jumps that stay inside the program, a
 * RET at the end, and no scratch memory read before it is written on every path.
 */
export function checkProgram(insns: readonly Insn[]): string | null {
  const flen = insns.length;
  if (flen < 1 || flen > BPF_MAXINSNS) return `a filter has 1 to ${BPF_MAXINSNS} instructions, this one ${flen}`;
  for (let pc = 0; pc < flen; pc++) {
    const { code, jt, jf, k } = insns[pc];
    const at = `instruction ${pc} (code 0x${code.toString(16).padStart(2, '0')})`;
    if (!SECCOMP_CODES.has(code)) return `${at} is not one seccomp accepts`;
    if (code === (BPF_LD | BPF_W | BPF_ABS) && (k >= SECCOMP_DATA_SIZE || k % 4 !== 0)) {
      return `${at} loads offset ${k}, outside struct seccomp_data or not 4-byte aligned`;
    }
    if (code === (BPF_ALU | BPF_DIV | BPF_K) && k === 0) return `${at} divides by zero`;
    if ((code === (BPF_ALU | BPF_LSH | BPF_K) || code === (BPF_ALU | BPF_RSH | BPF_K)) && k >= 32) return `${at} shifts by ${k}`;
    if ([BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX].includes(code) && k >= BPF_MEMWORDS) {
      return `${at} uses scratch memory word ${k} (there are ${BPF_MEMWORDS})`;
    }
    if (code === (BPF_JMP | BPF_JA) && k >= flen - pc - 1) return `${at} jumps past the end`;
    if (isConditionalJump(code) && (pc + jt + 1 >= flen || pc + jf + 1 >= flen)) return `${at} jumps past the end`;
  }
  const last = insns[flen - 1].code;
  if (last !== (BPF_RET | BPF_K) && last !== (BPF_RET | BPF_A)) return 'the last instruction is not a ret';
  return checkLoadsAfterStores(insns);
}

// check_load_and_stores() in net/core/filter.c: a scratch word may be read only after a store to
// it on every path that reaches the read.
function checkLoadsAfterStores(insns: readonly Insn[]): string | null {
  const masks = new Array<number>(insns.length).fill(0xffff);
  let valid = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc];
    valid &= masks[pc];
    if (code === BPF_ST || code === BPF_STX) valid |= 1 << k;
    else if (code === (BPF_LD | BPF_MEM) || code === (BPF_LDX | BPF_MEM)) {
      if (!(valid & (1 << k))) return `instruction ${pc} reads scratch memory word ${k} before it is written`;
    } else if (code === (BPF_JMP | BPF_JA)) {
      masks[pc + 1 + k] &= valid;
      valid = 0xffff;
    } else if (isConditionalJump(code)) {
      masks[pc + 1 + jt] &= valid;
      masks[pc + 1 + jf] &= valid;
      valid = 0xffff;
    }
  }
  return null;
}
