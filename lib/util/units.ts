// Sizes as cgroupfs and systemd read them: a number of bytes, or '512K' '256M' '2G' '1T'
// (powers of 1024; a trailing 'B' or 'iB' is accepted), and 'max' where no limit is allowed.
import { invalidArg } from '../errors';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Bytes from a size; `allowMax` turns 'max' into Infinity. */
export function parseSize(value: unknown, what: string, allowMax = false): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw invalidArg(`${what} must be a whole number of bytes (>= 0), got ${value}`);
  }
  if (typeof value === 'string') {
    if (value === 'max' && allowMax) return Infinity;
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(value);
    if (m) {
      const bytes = Number(m[1]) * UNITS[m[2].toUpperCase()];
      if (Number.isFinite(bytes) && bytes <= Number.MAX_SAFE_INTEGER) return Math.floor(bytes);
    }
  }
  throw invalidArg(
    `${what} must be a number of bytes or a size like '512K', '256M', '2G'${allowMax ? " or 'max'" : ''}, got ${JSON.stringify(value)}`,
  );
}
