// uid → user name from /etc/passwd, for lsns' USER column (no NSS: files only).
import { promises as fsp } from 'node:fs';

export async function userNames(file = '/etc/passwd'): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined && /^\d+$/.test(uid) && !names.has(Number(uid))) names.set(Number(uid), name);
  }
  return names;
}
