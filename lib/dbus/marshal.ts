// The D-Bus wire format, as the specification defines it ("Type System", "Marshaling (Wire
// Format)", "Message Format": dbus.freedesktop.org/doc/dbus-specification.html). Every type but
// unix fds ('h' travels as its index only). Values in JavaScript:
//   y n q i u h → number;  x t → bigint (number accepted when writing);  d → number;  b → boolean;
//   s o g → string;  v → Variant;  a → array;  a{kv} → Map (a Map, an array of [k, v] or, for
//   string keys, a plain object when writing);  (…) → array of the fields.
import { NsgroupsError } from '../errors';

/** A value with its own signature: what travels in a 'v'. */
export class Variant {
  constructor(
    readonly signature: string,
    readonly value: unknown,
  ) {}
}

const BASIC = 'ybnqiuxtdhsog';
const ALIGN: Record<string, number> = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, h: 4, s: 4, o: 4, g: 1, a: 4, '(': 8, '{': 8, v: 1 };
// the specification's limits: 64 MiB per array, 128 MiB per message, 32 levels of each container
const MAX_ARRAY = 64 << 20;
export const MAX_MESSAGE = 128 << 20;
const MAX_DEPTH = 64;

function wireError(message: string): NsgroupsError {
  return new NsgroupsError('ERR_SYSTEM', `D-Bus: ${message}`);
}

/** The length of the single complete type that starts at `sig[at]`. */
function completeTypeEnd(sig: string, at: number, depth = 0): number {
  if (depth > MAX_DEPTH) throw wireError(`signature '${sig}' nests too deeply`);
  const c = sig[at];
  if (c === undefined) throw wireError(`signature '${sig}' ends inside a type`);
  if (BASIC.includes(c) || c === 'v') return at + 1;
  if (c === 'a') {
    if (sig[at + 1] === '{') {
      if (!BASIC.includes(sig[at + 2] ?? '')) throw wireError(`signature '${sig}': a dict key must be a basic type`);
      const end = completeTypeEnd(sig, at + 3, depth + 1);
      if (sig[end] !== '}') throw wireError(`signature '${sig}': a dict entry holds exactly a key and a value`);
      return end + 1;
    }
    return completeTypeEnd(sig, at + 1, depth + 1);
  }
  if (c === '(') {
    let p = at + 1;
    if (sig[p] === ')') throw wireError(`signature '${sig}' has an empty struct`);
    while (sig[p] !== ')') p = completeTypeEnd(sig, p, depth + 1);
    return p + 1;
  }
  throw wireError(`signature '${sig}' has an unknown type code '${c}'`);
}

/** The complete types of a signature: 'sa(sv)' → ['s', 'a(sv)']. */
export function splitSignature(sig: string): string[] {
  if (sig.length > 255) throw wireError('a signature is at most 255 characters');
  const out: string[] = [];
  for (let p = 0; p < sig.length;) {
    const end = completeTypeEnd(sig, p);
    out.push(sig.slice(p, end));
    p = end;
  }
  return out;
}

/** The field types of a struct or dict-entry type: '(sv)' → ['s', 'v']. */
function innerTypes(type: string): string[] {
  return splitSignature(type.slice(1, -1));
}

export class Writer {
  #buf = Buffer.alloc(256);
  #pos = 0;

  get length(): number {
    return this.#pos;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.alloc(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  align(n: number): void {
    const pad = (n - (this.#pos % n)) % n;
    this.#room(pad);
    this.#buf.fill(0, this.#pos, this.#pos + pad);
    this.#pos += pad;
  }

  bytes(b: Buffer): void {
    this.#room(b.length);
    b.copy(this.#buf, this.#pos);
    this.#pos += b.length;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf.writeUInt8(v, this.#pos++);
  }

  u32At(at: number, v: number): void {
    this.#buf.writeUInt32LE(v, at);
  }

  done(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }

  /** Writes `value` as one complete type. */
  write(type: string, value: unknown, depth = 0): void {
    if (depth > MAX_DEPTH) throw wireError('a value nests too deeply');
    const c = type[0];
    this.align(ALIGN[c] ?? 1);
    const fixed = (size: number, put: (buf: Buffer, at: number) => void) => {
      this.#room(size);
      put(this.#buf, this.#pos);
      this.#pos += size;
    };
    switch (c) {
      case 'y':
        return fixed(1, (b, at) => b.writeUInt8(int(value, type, 0, 0xff), at));
      case 'b':
        if (typeof value !== 'boolean') throw wireError(`a 'b' needs a boolean, got ${typeof value}`);
        return fixed(4, (b, at) => b.writeUInt32LE(value ? 1 : 0, at));
      case 'n':
        return fixed(2, (b, at) => b.writeInt16LE(int(value, type, -0x8000, 0x7fff), at));
      case 'q':
        return fixed(2, (b, at) => b.writeUInt16LE(int(value, type, 0, 0xffff), at));
      case 'i':
        return fixed(4, (b, at) => b.writeInt32LE(int(value, type, -0x80000000, 0x7fffffff), at));
      case 'u':
      case 'h':
        return fixed(4, (b, at) => b.writeUInt32LE(int(value, type, 0, 0xffffffff), at));
      case 'x':
        return fixed(8, (b, at) => b.writeBigInt64LE(big(value, type, -(1n << 63n), (1n << 63n) - 1n), at));
      case 't':
        return fixed(8, (b, at) => b.writeBigUInt64LE(big(value, type, 0n, (1n << 64n) - 1n), at));
      case 'd':
        if (typeof value !== 'number') throw wireError(`a 'd' needs a number, got ${typeof value}`);
        return fixed(8, (b, at) => b.writeDoubleLE(value, at));
      case 's':
      case 'o': {
        const text = str(value, type);
        if (c === 'o' && !/^\/$|^(\/[A-Za-z0-9_]+)+$/.test(text)) throw wireError(`'${text}' is not an object path`);
        const bytes = Buffer.from(text, 'utf8');
        fixed(4, (b, at) => b.writeUInt32LE(bytes.length, at));
        this.bytes(bytes);
        return this.u8(0);
      }
      case 'g': {
        const text = str(value, type);
        splitSignature(text);
        this.u8(text.length);
        this.bytes(Buffer.from(text, 'ascii'));
        return this.u8(0);
      }
      case 'v': {
        if (!(value instanceof Variant)) throw wireError("a 'v' needs a Variant (its signature and value)");
        if (splitSignature(value.signature).length !== 1) throw wireError(`a variant holds one complete type, not '${value.signature}'`);
        this.write('g', value.signature);
        return this.write(value.signature, value.value, depth + 1);
      }
      case '(': {
        const fields = innerTypes(type);
        if (!Array.isArray(value) || value.length !== fields.length) {
          throw wireError(`a struct '${type}' needs an array of ${fields.length} fields`);
        }
        fields.forEach((t, i) => this.write(t, value[i], depth + 1));
        return;
      }
      case 'a': {
        const elem = type.slice(1);
        const lengthAt = this.#pos;
        fixed(4, () => {});
        this.align(ALIGN[elem[0]] ?? 1); // the padding before the first element is not counted
        const start = this.#pos;
        if (elem[0] === '{') {
          const [kt, vt] = innerTypes(elem);
          for (const [k, v] of dictEntries(value, type)) {
            this.align(8);
            this.write(kt, k, depth + 1);
            this.write(vt, v, depth + 1);
          }
        } else {
          if (!Array.isArray(value)) throw wireError(`an array '${type}' needs an array`);
          for (const v of value) this.write(elem, v, depth + 1);
        }
        const length = this.#pos - start;
        if (length > MAX_ARRAY) throw wireError('an array is at most 64 MiB');
        return this.u32At(lengthAt, length);
      }
      default:
        throw wireError(`cannot write type '${type}'`);
    }
  }
}

function int(value: unknown, type: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw wireError(`a '${type}' needs an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

function big(value: unknown, type: string, min: bigint, max: bigint): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else throw wireError(`a '${type}' needs a bigint or a safe integer, got ${String(value)}`);
  if (v < min || v > max) throw wireError(`${v} is out of range for a '${type}'`);
  return v;
}

function str(value: unknown, type: string): string {
  if (typeof value !== 'string') throw wireError(`a '${type}' needs a string, got ${typeof value}`);
  if (value.includes('\0')) throw wireError(`a '${type}' must not contain NUL`);
  return value;
}

function dictEntries(value: unknown, type: string): Iterable<[unknown, unknown]> {
  if (value instanceof Map) return value.entries();
  if (Array.isArray(value)) return value as Array<[unknown, unknown]>;
  if (value !== null && typeof value === 'object') return Object.entries(value);
  throw wireError(`a dict '${type}' needs a Map, an array of [key, value] or an object`);
}

export class Reader {
  #pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    /** 'l' little-endian, 'B' big-endian (the message's first byte) */
    private readonly endian: 'l' | 'B' = 'l',
    /** alignment is counted from here: the start of the message or of its body */
    private readonly base = 0,
  ) {
    this.#pos = start;
  }

  get pos(): number {
    return this.#pos;
  }

  #need(n: number): void {
    if (this.#pos + n > this.buf.length) throw wireError('a message ends inside a value');
  }

  align(n: number): void {
    const rel = this.#pos - this.base;
    this.#pos += (n - (rel % n)) % n;
    if (this.#pos > this.buf.length) throw wireError('a message ends inside its padding');
  }

  u32(): number {
    this.align(4);
    this.#need(4);
    const v = this.endian === 'l' ? this.buf.readUInt32LE(this.#pos) : this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  read(type: string, depth = 0): unknown {
    if (depth > MAX_DEPTH) throw wireError('a value nests too deeply');
    const c = type[0];
    this.align(ALIGN[c] ?? 1);
    const le = this.endian === 'l';
    const b = this.buf;
    const at = this.#pos;
    const take = <T>(n: number, v: () => T): T => {
      this.#need(n);
      const out = v();
      this.#pos += n;
      return out;
    };
    switch (c) {
      case 'y':
        return take(1, () => b.readUInt8(at));
      case 'b':
        return take(4, () => (le ? b.readUInt32LE(at) : b.readUInt32BE(at)) !== 0);
      case 'n':
        return take(2, () => (le ? b.readInt16LE(at) : b.readInt16BE(at)));
      case 'q':
        return take(2, () => (le ? b.readUInt16LE(at) : b.readUInt16BE(at)));
      case 'i':
        return take(4, () => (le ? b.readInt32LE(at) : b.readInt32BE(at)));
      case 'u':
      case 'h':
        return take(4, () => (le ? b.readUInt32LE(at) : b.readUInt32BE(at)));
      case 'x':
        return take(8, () => (le ? b.readBigInt64LE(at) : b.readBigInt64BE(at)));
      case 't':
        return take(8, () => (le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)));
      case 'd':
        return take(8, () => (le ? b.readDoubleLE(at) : b.readDoubleBE(at)));
      case 's':
      case 'o': {
        const n = this.u32();
        this.#need(n + 1);
        const text = b.toString('utf8', this.#pos, this.#pos + n);
        this.#pos += n + 1;
        return text;
      }
      case 'g': {
        const n = take(1, () => b.readUInt8(at));
        this.#need(n + 1);
        const text = b.toString('ascii', this.#pos, this.#pos + n);
        this.#pos += n + 1;
        return text;
      }
      case 'v': {
        const sig = this.read('g') as string;
        if (splitSignature(sig).length !== 1) throw wireError(`a variant's signature '${sig}' is not one complete type`);
        return new Variant(sig, this.read(sig, depth + 1));
      }
      case '(':
        return innerTypes(type).map((t) => this.read(t, depth + 1));
      case 'a': {
        const length = this.u32();
        if (length > MAX_ARRAY) throw wireError('an array is longer than 64 MiB');
        const elem = type.slice(1);
        this.align(ALIGN[elem[0]] ?? 1);
        const end = this.#pos + length;
        if (end > b.length) throw wireError('an array runs past the end of its message');
        if (elem[0] === '{') {
          const [kt, vt] = innerTypes(elem);
          const out = new Map<unknown, unknown>();
          while (this.#pos < end) {
            this.align(8);
            const k = this.read(kt, depth + 1);
            out.set(k, this.read(vt, depth + 1));
          }
          return out;
        }
        const out: unknown[] = [];
        while (this.#pos < end) out.push(this.read(elem, depth + 1));
        if (this.#pos !== end) throw wireError('an array element runs past the array');
        return out;
      }
      default:
        throw wireError(`cannot read type '${type}'`);
    }
  }
}

export const MessageType = { MethodCall: 1, MethodReturn: 2, Error: 3, Signal: 4 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const FLAG_NO_REPLY_EXPECTED = 0x1;

export interface Message {
  type: MessageType;
  flags: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature: string;
  body: unknown[];
}

// header field codes and the type of each ("Header Fields")
const FIELDS: Array<[keyof Message, number, string]> = [
  ['path', 1, 'o'],
  ['interface', 2, 's'],
  ['member', 3, 's'],
  ['errorName', 4, 's'],
  ['replySerial', 5, 'u'],
  ['destination', 6, 's'],
  ['sender', 7, 's'],
  ['signature', 8, 'g'],
];

export function encodeMessage(m: Message): Buffer {
  const body = new Writer();
  const types = splitSignature(m.signature);
  if (types.length !== m.body.length) throw wireError(`signature '${m.signature}' has ${types.length} values, the body ${m.body.length}`);
  types.forEach((t, i) => body.write(t, m.body[i]));
  const w = new Writer();
  w.bytes(Buffer.from([0x6c /* 'l' */, m.type, m.flags, 1]));
  w.write('u', body.length);
  w.write('u', m.serial);
  const fields: Array<[number, Variant]> = [];
  for (const [key, code, sig] of FIELDS) {
    const v = m[key];
    if (v === undefined || (key === 'signature' && v === '')) continue;
    fields.push([code, new Variant(sig, v)]);
  }
  w.write('a(yv)', fields);
  w.align(8);
  w.bytes(body.done());
  if (w.length > MAX_MESSAGE) throw wireError('a message is at most 128 MiB');
  return Buffer.from(w.done());
}

/** The length of the message at the start of `buf`, once its fixed header is there; else null. */
export function messageLength(buf: Buffer): number | null {
  if (buf.length < 16) return null;
  const endian = String.fromCharCode(buf[0]);
  if (endian !== 'l' && endian !== 'B') throw wireError(`a message starts with '${endian}', not an endianness mark`);
  const le = endian === 'l';
  const bodyLength = le ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
  const fieldsLength = le ? buf.readUInt32LE(12) : buf.readUInt32BE(12);
  const headerEnd = 16 + fieldsLength;
  const total = headerEnd + ((8 - (headerEnd % 8)) % 8) + bodyLength;
  if (total > MAX_MESSAGE) throw wireError('a message is longer than 128 MiB');
  return total;
}

/** Decodes one whole message (messageLength(buf) bytes). */
export function decodeMessage(buf: Buffer): Message {
  const endian = String.fromCharCode(buf[0]) as 'l' | 'B';
  const r = new Reader(buf, 1, endian); // after the endianness mark
  const type = r.read('y') as MessageType;
  const flags = r.read('y') as number;
  const version = r.read('y') as number;
  if (version !== 1) throw wireError(`protocol version ${version} (only 1 exists)`);
  const bodyLength = r.u32();
  const serial = r.u32();
  const fields = r.read('a(yv)') as Array<[number, Variant]>;
  r.align(8);
  const m: Message = { type, flags, serial, signature: '', body: [] };
  for (const [code, v] of fields) {
    const known = FIELDS.find((f) => f[1] === code);
    if (known) (m as unknown as Record<string, unknown>)[known[0]] = v.value; // unknown fields are ignored (spec)
  }
  const bodyStart = r.pos;
  if (bodyStart + bodyLength !== buf.length) throw wireError('a message body does not end where its header says');
  const body = new Reader(buf, bodyStart, endian, bodyStart);
  m.body = splitSignature(m.signature).map((t) => body.read(t));
  if (body.pos !== buf.length) throw wireError('a message body is longer than its signature');
  return m;
}
