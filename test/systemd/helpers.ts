// For the systemd lane (test/systemd, .ci/lane-systemd.sh): the tests run inside a QEMU guest
// booted with systemd as init (tools/v2vm.sh --init systemd), as the lingering user 'v2vm' in a
// login session (su -l: pam_systemd, logind), or as root for *.root.systemd.test.ts. Their oracles
// are the kernel (/proc, cgroupfs) and systemd's own tools (systemctl), never the library.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** `systemctl [--user] show -p P… UNIT` as a record (systemctl itself, over its own connection). */
export function unitProperties(unit: string, props: string[], user = process.geteuid!() !== 0): Record<string, string> {
  const out = execFileSync('systemctl', [...(user ? ['--user'] : []), 'show', ...props.flatMap((p) => ['-p', p]), unit], { encoding: 'utf8' });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** The units systemd lists under that name (none once it is gone: `list-units --all`). */
export function listedUnits(pattern: string, user = process.geteuid!() !== 0): string[] {
  const out = execFileSync('systemctl', [...(user ? ['--user'] : []), 'list-units', '--all', '--plain', '--no-legend', '--no-pager', pattern], {
    encoding: 'utf8',
  });
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/)[0]);
}

/** The scope directory in a cgroup path of the systemd driver ('…/nsgroups-1-abc.scope/nsgroups/x' → '…/nsgroups-1-abc.scope'). */
export function scopeDirOf(cgroupPath: string, unit: string): string {
  const at = cgroupPath.indexOf(`/${unit}/`);
  if (at < 0) throw new Error(`${cgroupPath} is not in ${unit}`);
  return cgroupPath.slice(0, at + unit.length + 1);
}

/** The v2 cgroup of a process, from /proc/PID/cgroup. */
export function cgroupOf(pid: number): string {
  return /^0::(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'))![1];
}

export async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
