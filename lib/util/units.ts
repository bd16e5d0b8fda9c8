// Sizes in the one vocabulary of the API: bytes as a number, or '512K' '256M' '2G' '1T' where
// the suffixes are powers of 1024 (as cgroupfs's memparse and systemd read them), or 'max'.
import { invalidArg } from '../errors';

/** No limit, as cgroupfs writes it. */
export type Max = 'max';
/** A size the user wrote: bytes, '512K' '256M' '2G' '1T' (powers of 1024), or 'max'. */
export type ByteSize = number | string;

const SUFFIX: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Bytes (an integer) or 'max'; ERR_INVALID_ARG for anything else. */
export function parseByteSize(value: unknown, what: string): number | Max {
  if (value === 'max') return 'max';
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw invalidArg(`${what} must be a whole number of bytes >= 0, a size like '512K', '256M', '2G', or 'max'; got ${value}`);
  }
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)\s*$/i.exec(value);
    if (m) {
      const bytes = Math.floor(parseFloat(m[1]) * SUFFIX[m[2].toUpperCase()]);
      if (Number.isSafeInteger(bytes)) return bytes;
    }
    throw invalidArg(`${what} must be a size like '512K', '256M', '2G', '1T' (powers of 1024), a number of bytes, or 'max'; got ${JSON.stringify(value)}`);
  }
  throw invalidArg(`${what} must be a number of bytes, a size like '256M', or 'max'; got ${value === null ? 'null' : typeof value}`);
}

/**
 * A counter or limit read from cgroupfs: 'max' stays 'max'; v1's "unlimited" (LONG_MAX rounded
 * down to a page, 9223372036854771712) and anything beyond 2^53 reads as 'max' too.
 */
export function parseLimitValue(text: string): number | Max {
  const t = text.trim();
  if (t === 'max' || t === '-1') return 'max';
  const n = Number(t);
  if (!Number.isFinite(n)) throw new Error(`unexpected cgroup value ${JSON.stringify(t)}`);
  return n >= 2 ** 62 || !Number.isSafeInteger(n) ? 'max' : n;
}

/** A plain integer counter (stats); large values lose precision but stay numbers. */
export function parseCounter(text: string): number {
  const n = Number(text.trim());
  if (!Number.isFinite(n)) throw new Error(`unexpected cgroup counter ${JSON.stringify(text.trim())}`);
  return n;
}
