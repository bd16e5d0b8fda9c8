// OverlayMount on the host (root lane): the kernel's merged view, copy-up, whiteouts, opaque
// directories, read-only overlays, unmount rules, and the optional features — each checked on
// the layers themselves and in /proc/self/mountinfo.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsgroupsError, OverlayMount, type OverlayMountOptions } from '../lib';
import { explainInvalidMount, overlayParameter } from '../lib/overlay/features';
import { resolveOverlayOptions } from '../lib/overlay/options';
import { native } from '../lib/native';
import { itIf, itRoot, userNamespacesAllowed } from './helpers/host';
import { inSandboxOverlay, isWhiteoutAt, mountinfoLines, mountsUnder, Scratch, snapshot, xattr } from './helpers/layers';

let scratch: Scratch;
const opened: OverlayMount[] = [];

beforeEach(() => {
  scratch = Scratch.create('mount');
});
afterEach(async () => {
  for (const ov of opened.splice(0)) await ov.unmount({ lazy: true }).catch(() => undefined);
  await scratch.cleanup();
});

function overlay(options: OverlayMountOptions): OverlayMount {
  const ov = new OverlayMount(options);
  opened.push(ov);
  return ov;
}

/** Three lowers (top first) with a shadowed file, a merged directory, and a directory to replace. */
function threeLayers(extra: Partial<OverlayMountOptions> = {}): OverlayMountOptions {
  return {
    lower: [
      scratch.dir('top', { shared: 'from top', 'etc/top.conf': 't' }),
      scratch.dir('mid', { shared: 'from mid', 'etc/mid.conf': 'm', 'dir/one': '1', 'dir/sub/two': '2' }),
      scratch.dir('base', { shared: 'from base', 'etc/base.conf': 'b', gone: 'g', 'bin/tool': '#!/bin/sh\n' }),
    ],
    upper: scratch.dir('upper'),
    work: scratch.dir('work'),
    target: scratch.dir('merged'),
    ...extra,
  };
}

function overlayMountAt(point: string): string | undefined {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === point && l.includes(' - overlay '));
}

describe('the merged view (root lane)', () => {
  itRoot('unites the layers, the topmost lower wins, and mountinfo shows the overlay with its options', async () => {
    const options = threeLayers();
    const ov = overlay(options);
    await ov.mount();
    expect(ov.mounted).toBe(true);
    const m = options.target!;
    expect(fs.readFileSync(`${m}/shared`, 'utf8')).toBe('from top');
    expect(fs.readdirSync(`${m}/etc`).sort()).toEqual(['base.conf', 'mid.conf', 'top.conf']);
    expect(fs.readdirSync(m).sort()).toEqual(['bin', 'dir', 'etc', 'gone', 'shared']);
    const line = overlayMountAt(m)!;
    expect(line).toBeDefined();
    expect(line).toContain(`lowerdir=${options.lower.join(':')}`);
    expect(line).toContain(`upperdir=${options.upper},workdir=${options.work}`);
    await ov.unmount();
    expect(ov.mounted).toBe(false);
    expect(mountsUnder(scratch.root)).toEqual([]);
  });

  itRoot('writes copy up into upper and never touch a lower; a delete leaves a whiteout and the lower keeps the file', async () => {
    const options = threeLayers();
    const lowersBefore = options.lower.map((l) => snapshot(l, true));
    const ov = overlay(options);
    await ov.mount();
    const m = options.target!;
    fs.appendFileSync(`${m}/etc/base.conf`, '+');
    fs.writeFileSync(`${m}/new`, 'n');
    fs.rmSync(`${m}/gone`);
    fs.rmSync(`${m}/shared`);
    expect(fs.existsSync(`${m}/gone`)).toBe(false);
    expect(fs.existsSync(`${m}/shared`)).toBe(false); // every layer's copy is hidden by one whiteout
    await ov.unmount();
    expect(options.lower.map((l) => snapshot(l, true))).toEqual(lowersBefore);
    const up = options.upper!;
    expect(fs.readFileSync(`${up}/etc/base.conf`, 'utf8')).toBe('b+');
    expect(fs.readFileSync(`${up}/new`, 'utf8')).toBe('n');
    expect(isWhiteoutAt(`${up}/gone`)).toBe(true);
    expect(isWhiteoutAt(`${up}/shared`)).toBe(true);
    expect(fs.readFileSync(`${options.lower[2]}/gone`, 'utf8')).toBe('g');
  });

  itRoot('rm -rf dir && mkdir dir makes an opaque directory in upper (trusted.overlay.opaque = y)', async () => {
    const options = threeLayers();
    const ov = overlay(options);
    await ov.mount();
    fs.rmSync(`${options.target}/dir`, { recursive: true });
    fs.mkdirSync(`${options.target}/dir`);
    expect(fs.readdirSync(`${options.target}/dir`)).toEqual([]);
    await ov.unmount();
    expect(xattr(`${options.upper}/dir`, 'trusted.overlay.opaque')).toBe('y');
  });

  itRoot('paths with , : and \\ in them are escaped for overlayfs and mount the right directories', async () => {
    const options: OverlayMountOptions = {
      lower: [scratch.dir('a,b:c', { who: 'top' }), scratch.dir('back\\slash', { who: 'base', only: 'base' })],
      upper: scratch.dir('up,per'),
      work: scratch.dir('wo:rk'),
      target: scratch.dir('mer ged'),
    };
    const ov = overlay(options);
    await ov.mount();
    expect(fs.readFileSync(`${options.target}/who`, 'utf8')).toBe('top');
    expect(fs.readFileSync(`${options.target}/only`, 'utf8')).toBe('base');
    fs.writeFileSync(`${options.target}/w`, 'x');
    expect(fs.existsSync(`${options.upper}/w`)).toBe(true);
    await ov.unmount();
    expect(mountsUnder(scratch.root)).toEqual([]);
  });

  itRoot('a read-only overlay (lowers only) refuses writes with EROFS', async () => {
    const ov = overlay({ lower: [scratch.dir('a', { f: 'a' }), scratch.dir('b', { g: 'b' })], target: scratch.dir('ro') });
    await ov.mount();
    expect(ov.readonly).toBe(true);
    expect(fs.readdirSync(scratch.path('ro')).sort()).toEqual(['f', 'g']);
    expect(() => fs.writeFileSync(scratch.path('ro/new'), 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));
    expect(() => fs.rmSync(scratch.path('ro/f'))).toThrow(expect.objectContaining({ code: 'EROFS' }));
    expect(overlayMountAt(scratch.path('ro'))).toMatch(/ ro,/);
    await ov.unmount();
  });

  itRoot('readonly with an upper layer shows it but writes nothing', async () => {
    const options = threeLayers({ readonly: true });
    fs.writeFileSync(`${options.upper}/from-upper`, 'u');
    const ov = overlay(options);
    await ov.mount();
    expect(fs.readFileSync(`${options.target}/from-upper`, 'utf8')).toBe('u');
    expect(() => fs.writeFileSync(`${options.target}/x`, 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));
    await ov.unmount();
  });
});

describe('mount and unmount rules (root lane)', () => {
  itRoot('bad layers are refused with nothing mounted', async () => {
    const before = mountinfoLines(scratch.root);
    const options = threeLayers();
    const bad: OverlayMountOptions[] = [
      { ...options, lower: [options.lower[0], scratch.path('missing'), options.lower[2]] },
      { ...options, upper: options.lower[1] + '/etc' },
      { ...options, work: scratch.dir('busy-work', { stray: 'x' }) },
    ];
    for (const o of bad) {
      let ov: OverlayMount | undefined;
      try {
        ov = overlay(o);
      } catch (err) {
        expect(err).toBeInstanceOf(NsgroupsError); // refused by the constructor already
        continue;
      }
      await expect(ov.mount()).rejects.toBeInstanceOf(NsgroupsError);
      expect(ov.mounted).toBe(false);
    }
    expect(mountinfoLines(scratch.root)).toEqual(before);
  });

  // overlayfs itself refuses a second mount of one upper dir only with index=on; otherwise it just warns
  itRoot('a second mount() is ERR_BUSY, and the same upper cannot serve two mounts at once', async () => {
    const options = threeLayers();
    const ov = overlay(options);
    await ov.mount();
    await expect(ov.mount()).rejects.toMatchObject({ code: 'ERR_BUSY' });
    const twin = overlay({ ...options, target: scratch.dir('merged2') });
    const err = await twin.mount().then(
      () => null,
      (e: unknown) => e as NsgroupsError,
    );
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err!.code).toBe('ERR_BUSY');
    expect(err!.message).toMatch(/already the upper dir of the overlay mounted at/);
    expect(twin.mounted).toBe(false);
    expect(overlayMountAt(scratch.path('merged2'))).toBeUndefined();
  });

  itRoot('unmount() is ERR_BUSY while a file is open under it, then lazy detaches it', async () => {
    const options = threeLayers();
    const ov = overlay(options);
    await ov.mount();
    const fd = fs.openSync(`${options.target}/shared`, 'r');
    try {
      await expect(ov.unmount()).rejects.toMatchObject({ code: 'ERR_BUSY', syscall: 'umount2' });
      expect(ov.mounted).toBe(true);
      expect(overlayMountAt(options.target!)).toBeDefined();
      await ov.unmount({ lazy: true });
      expect(ov.mounted).toBe(false);
      expect(overlayMountAt(options.target!)).toBeUndefined();
      expect(fs.readFileSync(fd, 'utf8')).toBe('from top'); // the detached overlay lives while in use
    } finally {
      fs.closeSync(fd);
    }
  });

  itRoot('unmount() refuses when another mount sits on top of ours, and does not unmount that one', async () => {
    const options = threeLayers();
    const ov = overlay(options);
    await ov.mount();
    await native().mount('tmpfs', options.target!, 'tmpfs', 0, 'size=1m');
    try {
      await expect(ov.unmount()).rejects.toMatchObject({ code: 'ERR_BUSY', message: expect.stringMatching(/another mount \(tmpfs/) });
      expect(mountsUnder(options.target!)).toHaveLength(2);
    } finally {
      await native().umount2(options.target!, 0);
    }
    await ov.unmount();
    expect(mountsUnder(scratch.root)).toEqual([]);
  });

  itRoot('await using unmounts at the end of the block', async () => {
    const options = threeLayers();
    {
      await using ov = new OverlayMount(options);
      await ov.mount();
      expect(overlayMountAt(options.target!)).toBeDefined();
    }
    expect(overlayMountAt(options.target!)).toBeUndefined();
  });

  itRoot('unmount() of a mount someone else already removed just forgets it', async () => {
    const options = threeLayers();
    const ov = overlay(options);
    await ov.mount();
    await native().umount2(options.target!, 0);
    await ov.unmount();
    expect(ov.mounted).toBe(false);
  });
});

describe('optional features (root lane): they work, or are ERR_UNSUPPORTED with the reason', () => {
  const hasRedirect = overlayParameter('redirect_dir') !== null;
  const hasMetacopy = overlayParameter('metacopy') !== null;

  itRoot('volatile: mounts, and after a clean unmount the same dirs mount again (marker removed after syncfs)', async () => {
    const options = threeLayers({ volatile: true });
    const ov = overlay(options);
    await ov.mount();
    expect(overlayMountAt(options.target!)).toMatch(/,(fsync=)?volatile(,|$)/); // newer kernels show it as fsync=volatile
    fs.writeFileSync(`${options.target}/v`, 'v');
    expect(fs.existsSync(`${options.work}/work/incompat/volatile`)).toBe(true);
    await ov.unmount();
    expect(fs.existsSync(`${options.work}/work/incompat/volatile`)).toBe(false);
    await ov.mount();
    expect(fs.readFileSync(`${options.target}/v`, 'utf8')).toBe('v');
    await ov.unmount();
  });

  itRoot('redirectDir: a lower directory can be renamed, recorded as trusted.overlay.redirect', async () => {
    const options = threeLayers({ redirectDir: true });
    const ov = overlay(options);
    if (!hasRedirect) {
      await expect(ov.mount()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/redirect_dir/) });
      return;
    }
    await ov.mount();
    fs.renameSync(`${options.target}/dir`, `${options.target}/moved`);
    expect(fs.readFileSync(`${options.target}/moved/sub/two`, 'utf8')).toBe('2');
    await ov.unmount();
    expect(xattr(`${options.upper}/moved`, 'trusted.overlay.redirect')).toBe('dir');
    expect(isWhiteoutAt(`${options.upper}/dir`)).toBe(true);
  });

  itRoot('without redirectDir, renaming a lower directory is EXDEV (what redirectDir is for)', async () => {
    const options = threeLayers({ redirectDir: 'off' });
    const ov = overlay(options);
    await ov.mount();
    expect(() => fs.renameSync(`${options.target}/dir`, `${options.target}/moved`)).toThrow(expect.objectContaining({ code: 'EXDEV' }));
    await ov.unmount();
  });

  itRoot('metacopy: a chmod copies up the metadata only', async () => {
    const options = threeLayers({ metacopy: true });
    const big = path.join(options.lower[2], 'big');
    fs.writeFileSync(big, Buffer.alloc(1 << 20, 7));
    const ov = overlay(options);
    if (!hasMetacopy) {
      await expect(ov.mount()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/metacopy/) });
      return;
    }
    await ov.mount();
    fs.chmodSync(`${options.target}/big`, 0o600);
    expect(fs.readFileSync(`${options.target}/big`).equals(fs.readFileSync(big))).toBe(true);
    await ov.unmount();
    expect(xattr(`${options.upper}/big`, 'trusted.overlay.metacopy')).not.toBeNull();
    expect(fs.statSync(`${options.upper}/big`).blocks * 512).toBeLessThan(1 << 20); // no data copied
  });

  itRoot("the kernel's own refusal of an option becomes ERR_UNSUPPORTED naming it (probed on a scratch overlay)", async () => {
    // a made-up option stands in for one an older kernel lacks: the probe must see EINVAL for it alone
    const o = resolveOverlayOptions(threeLayers());
    const fake = { ...o, redirectDir: 'nsgroups-no-such-mode' } as unknown as typeof o;
    const err = await explainInvalidMount(fake, false, new Error('EINVAL'));
    expect(err.code).toBe('ERR_UNSUPPORTED');
    expect(err.message).toMatch(/refuses the mount option 'redirect_dir=nsgroups-no-such-mode'/);
    const real = await explainInvalidMount({ ...o, volatile: true }, false, new Error('EINVAL'));
    expect(real.code).toBe('ERR_SYSTEM'); // volatile itself is fine here: the layers must be the problem
    expect(real.errno).toBe(-22);
    expect(mountsUnder(scratch.root)).toEqual([]);
  });

  itRoot('userxattr on the host: markers go to user.overlay.*', async () => {
    const options = threeLayers({ userxattr: true });
    const ov = overlay(options);
    await ov.mount();
    fs.rmSync(`${options.target}/dir`, { recursive: true });
    fs.mkdirSync(`${options.target}/dir`);
    await ov.unmount();
    expect(xattr(`${options.upper}/dir`, 'user.overlay.opaque')).toBe('y');
    expect(xattr(`${options.upper}/dir`, 'trusted.overlay.opaque')).toBeNull();
  });
});

describe('examples/cow-view.js (root lane)', () => {
  itRoot('prints the changes a command made to a copy-on-write view and leaves the directory untouched', () => {
    const dir = scratch.dir('original', { keep: 'k', edit: 'e', 'sub/drop': 'd' });
    const before = snapshot(dir, true);
    const out = execFileSync(
      process.execPath,
      [path.join(__dirname, '..', 'examples', 'cow-view.js'), dir, '--', 'sh', '-c', 'echo E > edit && rm sub/drop && echo n > new'],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toBe(`4 change(s) to ${dir}, which itself is untouched:\nC /edit\nA /new\nC /sub\nD /sub/drop\n`);
    expect(snapshot(dir, true)).toEqual(before);
    expect(mountsUnder(scratch.root)).toEqual([]);
  });
});

describe('the merged view inside a user namespace (both lanes: mounted with the rendered data and userxattr)', () => {
  itIf(
    userNamespacesAllowed,
    'unprivileged user namespaces are disabled',
    'unites the layers, copies writes up and leaves whiteouts; the host sees no mount',
    async () => {
      const before = mountinfoLines(scratch.root);
      const options = threeLayers();
      const ov = new OverlayMount(options);
      await ov._check();
      const out = await inSandboxOverlay(
        ov._mountData({ userxattr: true }),
        options.target!,
        'cat shared; echo; ls etc | tr "\\n" " "; echo; echo new > new; echo more >> etc/base.conf; rm gone; rm -rf dir; mkdir dir',
      );
      expect(out).toBe('from top\nbase.conf mid.conf top.conf \n');
      expect(mountinfoLines(scratch.root)).toEqual(before);
      expect(fs.readFileSync(`${options.upper}/new`, 'utf8')).toBe('new\n');
      expect(fs.readFileSync(`${options.upper}/etc/base.conf`, 'utf8')).toBe('bmore\n');
      expect(fs.readFileSync(`${options.lower[2]}/etc/base.conf`, 'utf8')).toBe('b');
      expect(isWhiteoutAt(`${options.upper}/gone`)).toBe(true);
      expect(fs.readFileSync(`${options.lower[2]}/gone`, 'utf8')).toBe('g');
      expect(xattr(`${options.upper}/dir`, 'user.overlay.opaque')).toBe('y');
    },
  );
});
