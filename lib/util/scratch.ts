// Removing a scratch directory the library made (an overlay's upper and work dirs, a sandbox's
// files). overlayfs leaves work/work mode 000 when mounted in a user namespace, so directories
// are opened up (chmod 700) before the tree goes.
import * as fs from 'node:fs';

export async function removeScratch(dir: string): Promise<void> {
  const open = async (d: string): Promise<void> => {
    for (const e of await fs.promises.readdir(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      await fs.promises.chmod(`${d}/${e.name}`, 0o700).catch(() => {});
      await open(`${d}/${e.name}`);
    }
  };
  await open(dir).catch(() => {});
  await fs.promises.rm(dir, { recursive: true, force: true });
}

/**
 * removeScratch, synchronously: for the small directories of a sandbox, a few system calls
 * without a turn of the thread pool each. `closed`: directories known to be mode 000 (work/work).
 */
export function removeScratchSync(dir: string, closed: readonly string[] = []): void {
  for (const d of closed) {
    try {
      fs.chmodSync(d, 0o700);
    } catch {
      /* not there */
    }
  }
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
  }
  const open = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      try {
        fs.chmodSync(`${d}/${e.name}`, 0o700);
      } catch {
        /* not ours: rm says so */
      }
      open(`${d}/${e.name}`);
    }
  };
  open(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}
