// Which overlayfs options this kernel has. Two sources, never a guess from the version number:
// the module's parameters (/sys/module/overlay/parameters/<name> exists for redirect_dir and
// metacopy where the kernel has them), and the mount's own refusal — when a mount with optional
// features fails with EINVAL, each feature is tried alone on a scratch overlay in a temporary
// directory, so the error can name the option this kernel refuses.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { type NsgroupsError, systemError, unsupported } from '../errors';
import { native } from '../native';
import type { ResolvedOverlay } from './options';
import { errnoOf } from './syscalls';

const PARAMETERS = '/sys/module/overlay/parameters';

/** The kernel release each option first appeared in, for the messages (overlayfs.rst, git history). */
const SINCE: Record<string, string> = {
  redirect_dir: 'Linux 4.10',
  metacopy: 'Linux 4.19',
  volatile: 'Linux 5.10',
  userxattr: 'Linux 5.11',
};

/** A module parameter's value, or null when the kernel lacks it (or overlay is not loaded yet). */
export function overlayParameter(name: string): string | null {
  try {
    return fs.readFileSync(path.join(PARAMETERS, name), 'utf8').trim();
  } catch {
    return null;
  }
}

/** The optional options a mount asks for, as overlayfs spells them. */
export function requestedFeatures(o: ResolvedOverlay, userxattr: boolean): string[] {
  const features: string[] = [];
  if (userxattr) features.push('userxattr');
  if (o.redirectDir !== undefined) features.push(`redirect_dir=${o.redirectDir}`);
  if (o.metacopy !== undefined) features.push(`metacopy=${o.metacopy ? 'on' : 'off'}`);
  if (o.volatile) features.push('volatile');
  return features;
}

/**
 * Refuses, before mounting, an option whose module parameter is missing although the module's
 * parameters are there (so the kernel was built without it). When overlay is not loaded yet
 * nothing is known here; the mount itself will tell.
 */
export function checkParameters(o: ResolvedOverlay): void {
  if (!fs.existsSync(PARAMETERS)) return;
  const wanted: Array<[string, boolean]> = [
    ['redirect_dir', o.redirectDir !== undefined],
    ['metacopy', o.metacopy !== undefined],
  ];
  for (const [parameter, asked] of wanted) {
    if (asked && overlayParameter(parameter) === null) {
      throw unsupported(
        `overlayfs on this kernel (${os.release()}) has no ${parameter} support (${PARAMETERS}/${parameter} is missing): ` +
          `it needs ${SINCE[parameter]} built with CONFIG_OVERLAY_FS_${parameter.toUpperCase()}; mount without that option`,
      );
    }
  }
}

/** Mounts a scratch overlay with one option: true when accepted, false on EINVAL, null on any other failure. */
async function probeOption(feature: string): Promise<boolean | null> {
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'nsgroups-overlay-probe-'));
  const dirs = ['l1', 'l2', 'u', 'w', 'm'].map((d) => path.join(scratch, d));
  try {
    for (const d of dirs) await fsp.mkdir(d);
    const [l1, l2, u, w, m] = dirs;
    const data = `lowerdir=${l1}:${l2},upperdir=${u},workdir=${w},${feature}`;
    try {
      await native().mount('overlay', m, 'overlay', 0, data);
    } catch (err) {
      return errnoOf(err) === os.constants.errno.EINVAL ? false : null;
    }
    await native().umount2(m, 0);
    return true;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The error for a host mount that failed with EINVAL: ERR_UNSUPPORTED naming the option this
 * kernel refuses when a probe finds one, else ERR_SYSTEM listing what else overlayfs checks.
 */
export async function explainInvalidMount(o: ResolvedOverlay, userxattr: boolean, err: unknown): Promise<NsgroupsError> {
  for (const feature of requestedFeatures(o, userxattr)) {
    if ((await probeOption(feature)) === false) {
      const name = feature.split('=')[0];
      return unsupported(
        `overlayfs on this kernel (${os.release()}) refuses the mount option '${feature}' (EINVAL in a probe mount): ` +
          `it needs ${SINCE[name] ?? 'a newer kernel'}; mount without it`,
      );
    }
  }
  return systemError(os.constants.errno.EINVAL, 'mount', `mounting the overlay at ${o.target}`, {
    path: o.target,
    cause: err,
    hint:
      'overlayfs refused these layers: the upper filesystem must support xattrs and d_type (tmpfs, ext4, xfs with ' +
      'ftype=1, btrfs…), the work dir must not be in use, and ' +
      'the layers must not be overlayfs-incompatible mounts; the kernel log (dmesg) names the reason',
  });
}
