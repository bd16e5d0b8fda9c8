// Checks for user input: each throws ERR_INVALID_ARG with a message that names the option, says
// what was wrong and what would be right. Used before anything is created.
import { invalidArg } from '../errors';

export type Plain = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

export function checkObject(value: unknown, what: string): Plain {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArg(`${what} must be an object, got ${describe(value)}`);
  }
  return value as Plain;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** The closest known name, for "did you mean". */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const score = distance(name.toLowerCase(), k.toLowerCase());
    if (score < bestScore) [best, bestScore] = [k, score];
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Refuses keys that are not in `known` (undefined values count as absent). */
export function checkKeys(obj: Plain, known: readonly string[], what: string, notes: Record<string, string> = {}): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key) || obj[key] === undefined) continue;
    if (notes[key]) throw invalidArg(`${what}: option '${key}' is not supported: ${notes[key]}`);
    const guess = suggest(key, known);
    throw invalidArg(`${what}: unknown option '${key}'${guess ? ` (did you mean '${guess}'?)` : ''}; known options: ${known.join(', ')}`);
  }
}

export function checkString(value: unknown, what: string, opts: { allowEmpty?: boolean; maxLength?: number } = {}): string {
  if (typeof value !== 'string') throw invalidArg(`${what} must be a string, got ${describe(value)}`);
  if (!opts.allowEmpty && value.length === 0) throw invalidArg(`${what} must not be empty`);
  if (value.includes('\0')) throw invalidArg(`${what} must not contain NUL bytes`);
  if (opts.maxLength !== undefined && Buffer.byteLength(value) > opts.maxLength) {
    throw invalidArg(`${what} is longer than ${opts.maxLength} bytes`);
  }
  return value;
}

export function checkInteger(value: unknown, what: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidArg(`${what} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : min === -Infinity ? `<= ${max}` : `between ${min} and ${max}`;
    throw invalidArg(`${what} must be ${range}, got ${value}`);
  }
  return value;
}

export function checkNumber(value: unknown, what: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidArg(`${what} must be a finite number, got ${describe(value)}`);
  if (value < min || value > max) throw invalidArg(`${what} must be between ${min} and ${max}, got ${value}`);
  return value;
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw invalidArg(`${what} must be true or false, got ${describe(value)}`);
  return value;
}

export function checkOneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    const guess = typeof value === 'string' ? suggest(value, allowed) : undefined;
    throw invalidArg(
      `${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}` + (guess ? ` (did you mean '${guess}'?)` : ''),
    );
  }
  return value as T;
}

export function checkArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw invalidArg(`${what} must be an array, got ${describe(value)}`);
  return value;
}

/** An id (uid or gid): 0 .. 2^32-2 (-1, 4294967295, means "unchanged" to the kernel). */
export function checkId(value: unknown, what: string): number {
  return checkInteger(value, what, 0, 0xfffffffe);
}

/** Up to `count` known names closest to `name` (for "did you mean one of"), best first. */
export function closest(name: string, known: readonly string[], count = 3): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  return known
    .map((k) => ({ k, d: distance(name.toLowerCase(), k.toLowerCase()) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || (a.k < b.k ? -1 : 1))
    .slice(0, count)
    .map((x) => x.k);
}
