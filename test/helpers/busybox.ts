// A root filesystem layer made of Debian's static busybox (package busybox-static): bin/ with
// busybox and a link per applet, and the empty mount points a root has.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BUSYBOX = '/bin/busybox';

export function busyboxAvailable(): boolean {
  try {
    return /static/.test(execFileSync('file', ['-L', BUSYBOX], { encoding: 'utf8' })) || fs.statSync(BUSYBOX).size > 1_000_000;
  } catch {
    return fs.existsSync(BUSYBOX);
  }
}

export function makeBusyboxLayer(dir: string): string {
  for (const d of ['bin', 'etc', 'proc', 'dev', 'tmp', 'sys', 'root']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\n');
  fs.chmodSync(dir, 0o755);
  return dir;
}
