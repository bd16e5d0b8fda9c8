// The BPF_PROG_TYPE_CGROUP_DEVICE program of a device policy (devices.ts), and the way back from
// its instructions to the policy. Pure: building and reading bytes; device-bpf.ts loads it.
//
// The kernel runs the program on every open and mknod of a device node by a process in the
// cgroup (or below it), with a struct bpf_cgroup_dev_ctx: access_type = (BPF_DEVCG_ACC_* << 16) |
// BPF_DEVCG_DEV_*, major, minor (include/uapi/linux/bpf.h); it returns 1 to allow, 0 to deny
// (EPERM). The program decides as the v1 devices controller would (security/device_cgroup.c):
// with a "deny all" default an access is allowed when one exception matches the device and grants
// every right asked for; with "allow all", it is denied when an exception matches and takes any of
// them away. The same shape as systemd's bpf-devices.c and crun's ebpf.c: load the fields into
// r2..r5, one block per exception that jumps to the next block when it does not match, the default
// at the end.
import * as os from 'node:os';
import { ALL_ACCESS, type DeviceException, type DeviceNumber, type DevicePolicy } from './devices';

const INSN_SIZE = 8;

// Opcodes (include/uapi/linux/bpf_common.h, bpf.h): class | op | source.
const LDX_W_MEM = 0x61; // BPF_LDX | BPF_W | BPF_MEM
const AND_K = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const MOV_X = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT = 0x95; // BPF_JMP | BPF_EXIT
// a 32-bit move of a register onto itself: the zero-extension the verifier inserts for JITs
// that need it (kernel/bpf/verifier.c opt_subreg_zext_lo32_rnd_hi32); skipped when reading back
const MOV32_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X

// BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
const DEV_TYPE = { b: 1, c: 2 } as const;

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

// r2 = type, r3 = access, r4 = major, r5 = minor (r1 is the context)
const PROLOGUE: Insn[] = [
  insn(LDX_W_MEM, 2, 1, 0, 0),
  insn(AND_K, 2, 0, 0, 0xffff),
  insn(LDX_W_MEM, 3, 1, 0, 0),
  insn(RSH_K, 3, 0, 0, 16),
  insn(LDX_W_MEM, 4, 1, 4, 0),
  insn(LDX_W_MEM, 5, 1, 8, 0),
];

function block(e: DeviceException, defaultAllow: boolean): Insn[] {
  // jumps are filled in below: each skips to the end of the block
  const tests: Array<Omit<Insn, 'off'>> = [{ code: JNE_K, dst: 2, src: 0, imm: DEV_TYPE[e.type] }];
  if (e.access !== ALL_ACCESS) {
    tests.push({ code: MOV_X, dst: 1, src: 3, imm: 0 });
    if (defaultAllow) {
      // a deny exception: not this one when none of the rights asked for is among those it denies
      tests.push({ code: AND_K, dst: 1, src: 0, imm: e.access }, { code: JEQ_K, dst: 1, src: 0, imm: 0 });
    } else {
      // an allow exception: not this one when a right is asked for that it does not grant
      tests.push({ code: AND_K, dst: 1, src: 0, imm: ~e.access & ALL_ACCESS }, { code: JNE_K, dst: 1, src: 0, imm: 0 });
    }
  }
  if (e.major !== '*') tests.push({ code: JNE_K, dst: 4, src: 0, imm: e.major });
  if (e.minor !== '*') tests.push({ code: JNE_K, dst: 5, src: 0, imm: e.minor });
  const length = tests.length + 2;
  const out = tests.map((t, i) => ({ ...t, off: t.code === JNE_K || t.code === JEQ_K ? length - i - 1 : 0 }));
  out.push(insn(MOV_K, 0, 0, 0, defaultAllow ? 0 : 1), insn(EXIT, 0, 0, 0, 0));
  return out;
}

function toBytes(insns: Insn[], littleEndian: boolean): Buffer {
  const buf = Buffer.alloc(insns.length * INSN_SIZE);
  insns.forEach((i, n) => {
    const at = n * INSN_SIZE;
    buf[at] = i.code;
    // struct bpf_insn's dst_reg:4, src_reg:4 bitfields: dst in the low nibble on little-endian
    buf[at + 1] = littleEndian ? (i.src << 4) | i.dst : (i.dst << 4) | i.src;
    if (littleEndian) {
      buf.writeInt16LE(i.off, at + 2);
      buf.writeInt32LE(i.imm, at + 4);
    } else {
      buf.writeInt16BE(i.off, at + 2);
      buf.writeInt32BE(i.imm, at + 4);
    }
  });
  return buf;
}

function fromBytes(buf: Buffer, littleEndian: boolean): Insn[] {
  const out: Insn[] = [];
  for (let at = 0; at + INSN_SIZE <= buf.length; at += INSN_SIZE) {
    const regs = buf[at + 1];
    out.push({
      code: buf[at],
      dst: littleEndian ? regs & 15 : regs >> 4,
      src: littleEndian ? regs >> 4 : regs & 15,
      off: littleEndian ? buf.readInt16LE(at + 2) : buf.readInt16BE(at + 2),
      imm: littleEndian ? buf.readInt32LE(at + 4) : buf.readInt32BE(at + 4),
    });
  }
  return out;
}

const hostLittleEndian = os.endianness() === 'LE';

/** The program's instructions (struct bpf_insn[], in this host's byte order). */
export function encodeDeviceProgram(policy: DevicePolicy, littleEndian = hostLittleEndian): Buffer {
  const insns = [...PROLOGUE];
  for (const e of policy.exceptions) insns.push(...block(e, policy.defaultAllow));
  insns.push(insn(MOV_K, 0, 0, 0, policy.defaultAllow ? 1 : 0), insn(EXIT, 0, 0, 0, 0));
  return toBytes(insns, littleEndian);
}

/**
 * The policy of a program encodeDeviceProgram() built, from its instructions as the kernel
 * reports them (BPF_OBJ_GET_INFO_BY_FD xlated_prog_insns); null when they are not such a program.
 */
export function decodeDeviceProgram(bytes: Buffer, littleEndian = hostLittleEndian): DevicePolicy | null {
  const all = fromBytes(bytes, littleEndian);
  const insns = all.filter((i) => !(i.code === MOV32_X && i.dst === i.src));
  const same = (a: Insn | undefined, b: Insn) => !!a && a.code === b.code && a.dst === b.dst && a.src === b.src && a.off === b.off && a.imm === b.imm;
  if (!PROLOGUE.every((p, n) => same(insns[n], p))) return null;
  let at = PROLOGUE.length;
  const is = (code: number, dst: number) => insns[at]?.code === code && insns[at]?.dst === dst;
  const exceptions: DeviceException[] = [];
  const modes = new Set<boolean>(); // the default each block implies
  while (at < insns.length) {
    if (is(MOV_K, 0) && insns[at + 1]?.code === EXIT && at + 2 === insns.length) {
      const defaultAllow = insns[at].imm === 1;
      if ((insns[at].imm !== 0 && insns[at].imm !== 1) || [...modes].some((m) => m !== defaultAllow)) return null;
      const policy = { defaultAllow, exceptions };
      // without inserted zero-extensions the bytes must be exactly what we would build
      if (all.length === insns.length && !encodeDeviceProgram(policy, littleEndian).equals(bytes)) return null;
      return policy;
    }
    if (!is(JNE_K, 2)) return null;
    const type = insns[at].imm === DEV_TYPE.b ? 'b' : insns[at].imm === DEV_TYPE.c ? 'c' : null;
    if (!type) return null;
    at++;
    let access = ALL_ACCESS;
    if (is(MOV_X, 1)) {
      const mask = insns[at + 1];
      const jump = insns[at + 2];
      if (insns[at].src !== 3 || mask?.code !== AND_K || mask.dst !== 1 || !jump || jump.dst !== 1 || jump.imm !== 0) return null;
      if (jump.code === JEQ_K) {
        modes.add(true);
        access = mask.imm & ALL_ACCESS;
      } else if (jump.code === JNE_K) {
        modes.add(false);
        access = ~mask.imm & ALL_ACCESS;
      } else return null;
      at += 3;
    }
    let major: DeviceNumber = '*';
    let minor: DeviceNumber = '*';
    if (is(JNE_K, 4)) major = insns[at++].imm;
    if (is(JNE_K, 5)) minor = insns[at++].imm;
    if (!is(MOV_K, 0) || insns[at + 1]?.code !== EXIT) return null;
    modes.add(insns[at].imm === 0); // a block that denies is an exception to "allow all"
    at += 2;
    exceptions.push({ type, major, minor, access });
  }
  return null;
}
