// A tiny classic-BPF interpreter with seccomp's semantics, written from the BPF spec (not from
// lib/seccomp), to evaluate a filter for one (arch, nr, args) the way the kernel would run it.
// seccomp_data: { int nr; u32 arch; u64 instruction_pointer; u64 args[6] }, little-endian.

export interface SeccompData {
  nr: number;
  arch: number;
  ip?: bigint;
  args?: readonly (bigint | number)[];
}

export type Verdict = 'ALLOW' | 'KILL_PROCESS' | 'KILL_THREAD' | 'LOG' | { errno: number } | { other: number };

export function seccompData(d: SeccompData): Buffer {
  const b = Buffer.alloc(64);
  b.writeInt32LE(d.nr | 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(d.ip ?? 0n, 8);
  (d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  return b;
}

/** Runs the filter; returns the 32-bit value of the ret it reaches. Throws on what the kernel would refuse to run. */
export function runFilter(filter: Buffer, d: SeccompData): number {
  const data = seccompData(d);
  const n = filter.length / 8;
  let A = 0;
  let X = 0;
  const M = new Array<number>(16).fill(0);
  for (let pc = 0; pc < n; pc++) {
    const code = filter.readUInt16LE(pc * 8);
    const jt = filter[pc * 8 + 2];
    const jf = filter[pc * 8 + 3];
    const k = filter.readUInt32LE(pc * 8 + 4);
    const src = code & 0x08 ? X : k;
    switch (code & 0x07) {
      case 0x00: // LD
        if (code === 0x20)
          A = data.readUInt32LE(k); // W ABS
        else if (code === 0x00)
          A = k; // IMM
        else if (code === 0x60)
          A = M[k]; // MEM
        else if (code === 0x80)
          A = 64; // W LEN
        else throw new Error(`ld code 0x${code.toString(16)} at ${pc}`);
        break;
      case 0x01: // LDX
        if (code === 0x01) X = k;
        else if (code === 0x61) X = M[k];
        else if (code === 0x81) X = 64;
        else throw new Error(`ldx code 0x${code.toString(16)} at ${pc}`);
        break;
      case 0x02:
        M[k] = A;
        break;
      case 0x03:
        M[k] = X;
        break;
      case 0x04: // ALU, 32-bit unsigned
        switch (code & 0xf0) {
          case 0x00:
            A = (A + src) >>> 0;
            break;
          case 0x10:
            A = (A - src) >>> 0;
            break;
          case 0x20:
            A = Math.imul(A, src) >>> 0;
            break;
          case 0x30:
            if (src === 0) return 0;
            A = Math.floor(A / src) >>> 0;
            break; // the kernel returns 0 on a division by X = 0
          case 0x40:
            A = (A | src) >>> 0;
            break;
          case 0x50:
            A = (A & src) >>> 0;
            break;
          case 0x60:
            A = src >= 32 ? 0 : (A << src) >>> 0;
            break;
          case 0x70:
            A = src >= 32 ? 0 : A >>> src;
            break;
          case 0x80:
            A = -A >>> 0;
            break;
          case 0xa0:
            A = (A ^ src) >>> 0;
            break;
          default:
            throw new Error(`alu code 0x${code.toString(16)} at ${pc}`);
        }
        break;
      case 0x05: {
        // JMP
        const op = code & 0xf0;
        if (op === 0x00) {
          pc += k;
          break;
        }
        const taken = op === 0x10 ? A === src : op === 0x20 ? A > src : op === 0x30 ? A >= src : op === 0x40 ? (A & src) !== 0 : undefined;
        if (taken === undefined) throw new Error(`jmp code 0x${code.toString(16)} at ${pc}`);
        pc += taken ? jt : jf;
        break;
      }
      case 0x06: // RET
        return (code & 0x18) === 0x10 ? A : k;
      case 0x07: // MISC
        if (code === 0x07) X = A;
        else if (code === 0x87) A = X;
        else throw new Error(`misc code 0x${code.toString(16)} at ${pc}`);
        break;
    }
  }
  throw new Error('ran off the end of the filter');
}

export function verdict(ret: number): Verdict {
  const action = (ret & 0xffff0000) >>> 0;
  if (action === 0x7fff0000) return 'ALLOW';
  if (action === 0x80000000) return 'KILL_PROCESS';
  if (action === 0) return 'KILL_THREAD';
  if (action === 0x7ffc0000) return 'LOG';
  if (action === 0x00050000) return { errno: ret & 0xffff };
  return { other: ret >>> 0 };
}

export const evaluate = (filter: Buffer, d: SeccompData): Verdict => verdict(runFilter(filter, d));

/** One struct sock_filter. */
export function insn(code: number, jt: number, jf: number, k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b[2] = jt;
  b[3] = jf;
  b.writeUInt32LE(k >>> 0, 4);
  return b;
}
export const RET_ALLOW = insn(0x06, 0, 0, 0x7fff0000);
const prog = (...insns: Buffer[]): Buffer => Buffer.concat(insns);

/** Programs the kernel refuses (EINVAL), with what lib/seccomp says about each. */
export const BAD_PROGRAMS: [string, Buffer, RegExp][] = [
  ['no instructions', Buffer.alloc(0), /1 to 4096 instructions, this one 0/],
  ['4097 instructions', Buffer.concat(Array.from({ length: 4097 }, () => RET_ALLOW)), /this one 4097/],
  ['no ret at the end', prog(RET_ALLOW, insn(0x20, 0, 0, 0)), /last instruction is not a ret/],
  ['a load past seccomp_data', prog(insn(0x20, 0, 0, 64), RET_ALLOW), /loads offset 64/],
  ['an unaligned load', prog(insn(0x20, 0, 0, 2), RET_ALLOW), /loads offset 2/],
  ['a byte load', prog(insn(0x30, 0, 0, 0), RET_ALLOW), /not one seccomp accepts/],
  ['a jump past the end', prog(insn(0x15, 0, 1, 0), RET_ALLOW), /instruction 0 .* jumps past the end/],
  ['ja past the end', prog(insn(0x05, 0, 0, 1), RET_ALLOW), /jumps past the end/],
  ['division by zero', prog(insn(0x34, 0, 0, 0), RET_ALLOW), /divides by zero/],
  ['a shift by 32', prog(insn(0x64, 0, 0, 32), RET_ALLOW), /shifts by 32/],
  ['scratch word 16', prog(insn(0x02, 0, 0, 16), RET_ALLOW), /scratch memory word 16/],
  ['a read before a write', prog(insn(0x60, 0, 0, 2), RET_ALLOW), /reads scratch memory word 2 before/],
  ['a write on one path only', prog(insn(0x15, 0, 1, 0), insn(0x02, 0, 0, 1), insn(0x60, 0, 0, 1), RET_ALLOW), /reads scratch memory word 1 before/],
];
