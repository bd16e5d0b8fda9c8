// IP addresses as text ↔ the bytes rtnetlink carries. Validation uses Node's own parser
// (net.isIPv4/isIPv6); these only convert what it accepted.
import { isIPv4, isIPv6 } from 'node:net';
import { invalidArg } from '../errors';

export interface ParsedCidr {
  family: 4 | 6;
  bytes: Uint8Array;
  prefixLength: number;
}

function ipv4Bytes(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

function ipv6Bytes(text: string): Uint8Array {
  let t = text.replace(/%.*$/, ''); // a zone index is not part of the address
  if (t.includes('.')) {
    // an embedded IPv4 tail (::ffff:10.0.0.1): rewrite it as two hex groups
    const colon = t.lastIndexOf(':');
    const v4 = ipv4Bytes(t.slice(colon + 1));
    t = `${t.slice(0, colon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = t.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = halves.length > 1 ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** '10.200.0.1/30' or 'fd00::1/64' (no prefix: a host address, /32 or /128). */
export function parseCidr(value: string, what: string): ParsedCidr {
  const slash = value.indexOf('/');
  const addr = slash < 0 ? value : value.slice(0, slash);
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : 0;
  if (family === 0) throw invalidArg(`${what} must be an IPv4 or IPv6 address with an optional /prefix, like '10.200.0.1/30', got ${JSON.stringify(value)}`);
  const max = family === 4 ? 32 : 128;
  let prefixLength = max;
  if (slash >= 0) {
    const p = value.slice(slash + 1);
    prefixLength = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(prefixLength >= 0 && prefixLength <= max)) throw invalidArg(`${what}: the prefix length must be 0-${max}, got ${JSON.stringify(p)}`);
  }
  return { family, bytes: family === 4 ? ipv4Bytes(addr) : ipv6Bytes(addr), prefixLength };
}

/** Bytes → text; IPv6 in RFC 5952's form (lower case, the longest run of zero groups as ::). */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}
