// commit(): the upper dir becomes a lower layer; stacked on the old lowers, the kernel shows the
// same merged view as before (root lane: on the host, with owners, modes, times, links, xattrs,
// metacopy and redirects; both lanes: inside a user namespace). Refusals leave nothing behind.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OverlayMount, type OverlayMountOptions } from '../lib';
import { native } from '../lib/native';
import { itIf, itRoot, itRootless, userNamespacesAllowed } from './helpers/host';
import { inSandboxOverlay, isWhiteoutAt, LIST_SCRIPT, mountsUnder, Scratch, snapshot, xattr } from './helpers/layers';

let scratch: Scratch;
const opened: OverlayMount[] = [];
beforeEach(() => {
  scratch = Scratch.create('commit');
});
afterEach(async () => {
  for (const ov of opened.splice(0)) await ov.unmount({ lazy: true }).catch(() => undefined);
  await scratch.cleanup();
});

function track(ov: OverlayMount): OverlayMount {
  opened.push(ov);
  return ov;
}

function layers(extra: Partial<OverlayMountOptions> = {}): OverlayMountOptions {
  return {
    lower: [
      scratch.dir('top', { shared: 'top', 'etc/top.conf': 't', 'link-target': 'lt' }),
      scratch.dir('base', { shared: 'base', gone: 'g', 'etc/base.conf': 'b', 'dir/one': '1', 'dir/sub/two': '2', 'old/inner/deep': 'd' }),
    ],
    upper: scratch.dir('upper'),
    work: scratch.dir('work'),
    target: scratch.dir('merged'),
    ...extra,
  };
}

const EDITS = [
  'echo n > new',
  'echo more >> etc/base.conf',
  'rm gone',
  'rm -rf dir && mkdir dir && echo 3 > dir/three',
  'ln -s link-target symlink',
  'echo h > hard && ln hard hard2',
  'mkfifo fifo',
  'mkdir -p deep/er && chmod 750 deep',
].join(' && ');

/** Inode numbers of two names are the same (a hard link), checked in the merged view. */
function sameInode(a: string, b: string): boolean {
  return fs.statSync(a).ino === fs.statSync(b).ino;
}

describe('commit() round trip (root lane)', () => {
  itRoot('the committed layer over the old lowers shows the same view: content, types, owners, modes, mtimes, links, xattrs', async () => {
    const options = layers({ redirectDir: true, metacopy: true });
    fs.writeFileSync(`${options.lower[1]}/big`, Buffer.alloc(1 << 16, 5));
    const ov = track(new OverlayMount(options));
    await ov.mount();
    const m = options.target!;
    execFileSync('sh', ['-c', `${EDITS} && mv old renamed && chmod 600 big`], { cwd: m });
    fs.writeFileSync(`${m}/owned`, 'o');
    fs.chownSync(`${m}/owned`, 1234, 5678);
    fs.chmodSync(`${m}/owned`, 0o4755);
    native().lsetxattr(`${m}/new`, 'user.comment', Buffer.from('kept'), 0);
    fs.utimesSync(`${m}/new`, new Date('2001-02-03T04:05:06.789Z'), new Date('2001-02-03T04:05:06.789Z'));
    const before = snapshot(m, true);
    await ov.unmount();

    const layer = await ov.commit(scratch.path('layer'));
    expect(layer).toBe(scratch.path('layer'));
    // whiteouts and opaque markers kept; redirect and metacopy made self-contained; bookkeeping dropped
    expect(isWhiteoutAt(`${layer}/gone`)).toBe(true);
    expect(isWhiteoutAt(`${layer}/old`)).toBe(true);
    expect(xattr(`${layer}/dir`, 'trusted.overlay.opaque')).toBe('y');
    expect(xattr(`${layer}/renamed`, 'trusted.overlay.opaque')).toBe('y');
    expect(xattr(`${layer}/renamed`, 'trusted.overlay.redirect')).toBeNull();
    expect(fs.readFileSync(`${layer}/renamed/inner/deep`, 'utf8')).toBe('d');
    expect(xattr(`${layer}/big`, 'trusted.overlay.metacopy')).toBeNull();
    expect(fs.readFileSync(`${layer}/big`).equals(Buffer.alloc(1 << 16, 5))).toBe(true);
    expect(
      native()
        .llistxattr(layer)
        .filter((n) => n.startsWith('trusted.overlay.')),
    ).toEqual([]);
    expect(
      native()
        .llistxattr(`${layer}/etc`)
        .filter((n) => n.startsWith('trusted.overlay.')),
    ).toEqual([]);

    const view = track(new OverlayMount({ lower: [layer, ...options.lower], target: scratch.dir('merged2') }));
    await view.mount();
    const m2 = scratch.path('merged2');
    expect(snapshot(m2, true)).toEqual(before);
    expect(sameInode(`${m2}/hard`, `${m2}/hard2`)).toBe(true);
    expect(native().lgetxattr(`${m2}/new`, 'user.comment').toString()).toBe('kept');
    expect(fs.statSync(`${m2}/owned`).mode & 0o7777).toBe(0o4755);
    await view.unmount();
    expect(mountsUnder(scratch.root)).toEqual([]);
  });

  itRoot('layers stack like images: commit, mount the result with a fresh upper, change it, commit again', async () => {
    const options = layers();
    const first = track(new OverlayMount(options));
    await first.mount();
    execFileSync('sh', ['-c', 'echo 1 > layer1 && rm gone'], { cwd: options.target! });
    await first.unmount();
    const l1 = await first.commit(scratch.path('l1'));

    const second = track(new OverlayMount({ lower: [l1, ...options.lower], upper: scratch.dir('up2'), work: scratch.dir('wk2'), target: options.target }));
    await second.mount();
    expect(fs.existsSync(`${options.target}/gone`)).toBe(false);
    execFileSync('sh', ['-c', 'echo g2 > gone && rm layer1 && echo 2 > layer2'], { cwd: options.target! });
    const view = snapshot(options.target!);
    expect(await second.changes()).toEqual([
      { path: '/gone', kind: 'added' }, // whited out by l1: new again
      { path: '/layer1', kind: 'deleted' },
      { path: '/layer2', kind: 'added' },
    ]);
    await second.unmount();
    const l2 = await second.commit(scratch.path('l2'));
    const image = track(new OverlayMount({ lower: [l2, l1, ...options.lower], target: options.target }));
    await image.mount();
    expect(snapshot(options.target!)).toEqual(view);
  });

  itRoot('commit({ userxattr: true }) writes user.overlay.* markers for a layer mounted with userxattr', async () => {
    const options = layers();
    const ov = track(new OverlayMount(options));
    await ov.mount();
    execFileSync('sh', ['-c', 'rm -rf dir && mkdir dir && echo 3 > dir/three'], { cwd: options.target! });
    const before = snapshot(options.target!);
    await ov.unmount();
    const layer = await ov.commit(scratch.path('layer'), { userxattr: true });
    expect(xattr(`${layer}/dir`, 'user.overlay.opaque')).toBe('y');
    expect(xattr(`${layer}/dir`, 'trusted.overlay.opaque')).toBeNull();
    const view = track(new OverlayMount({ lower: [layer, ...options.lower], target: scratch.dir('merged2'), userxattr: true }));
    await view.mount();
    expect(snapshot(scratch.path('merged2'))).toEqual(before);
  });

  itRoot('refused while mounted, or while a sandbox uses it', async () => {
    const ov = track(new OverlayMount(layers()));
    await ov.mount();
    await expect(ov.commit(scratch.path('layer'))).rejects.toMatchObject({ code: 'ERR_BUSY', message: expect.stringMatching(/unmount\(\) first/) });
    await ov.unmount();
    const release = ov._use();
    await expect(ov.commit(scratch.path('layer'))).rejects.toMatchObject({ code: 'ERR_BUSY' });
    release();
    await expect(ov.commit(scratch.path('layer'))).resolves.toBe(scratch.path('layer'));
    expect(fs.existsSync(scratch.path('layer'))).toBe(true);
  });
});

describe('commit() in both lanes', () => {
  it('refuses a destination that exists with content, lies in a layer, or has no parent', async () => {
    const options = layers();
    const ov = new OverlayMount(options);
    const full = scratch.dir('full', { x: '1' });
    await expect(ov.commit(full)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/not an empty directory/) });
    await expect(ov.commit(`${options.lower[0]}/layer`)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/lies inside lower\[0\]/),
    });
    await expect(ov.commit(scratch.path('no/parent'))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(new OverlayMount({ lower: options.lower }).commit(scratch.path('l'))).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/read-only overlay has no upper/),
    });
    expect(fs.readdirSync(full)).toEqual(['x']);
    expect(fs.existsSync(`${options.lower[0]}/layer`)).toBe(false);
  });

  it('an existing empty directory is filled; the copy keeps modes and whiteouts', async () => {
    const options = layers({ userxattr: true });
    native().mknod(`${options.upper}/gone`, fs.constants.S_IFCHR, 0, 0);
    fs.writeFileSync(`${options.upper}/script`, '#!/bin/sh\n', { mode: 0o751 });
    const dest = scratch.dir('empty');
    expect(await new OverlayMount(options).commit(dest)).toBe(dest);
    expect(isWhiteoutAt(`${dest}/gone`)).toBe(true);
    expect(fs.statSync(`${dest}/script`).mode & 0o777).toBe(0o751);
  });

  itRootless('without root, trusted.overlay.* markers cannot be written: ERR_PERMISSION, and the half-made layer is removed', async () => {
    const options = layers();
    fs.mkdirSync(`${options.upper}/dir`);
    native().lsetxattr(`${options.upper}/dir`, 'user.overlay.opaque', Buffer.from('y'), 0);
    fs.writeFileSync(`${options.upper}/dir/f`, 'f');
    const ov = new OverlayMount(options);
    const err = await ov.commit(scratch.path('layer'), { userxattr: false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_PERMISSION', syscall: 'lsetxattr', message: expect.stringMatching(/userxattr: true/) });
    expect(fs.existsSync(scratch.path('layer'))).toBe(false);
    await expect(ov.commit(scratch.path('layer'))).resolves.toBe(scratch.path('layer')); // user.overlay.* like the upper dir
    expect(xattr(`${scratch.path('layer')}/dir`, 'user.overlay.opaque')).toBe('y');
  });

  itIf(
    userNamespacesAllowed,
    'unprivileged user namespaces are disabled',
    'round trip inside a user namespace: the committed layer shows the same listing',
    async () => {
      const options = layers();
      const ov = new OverlayMount(options);
      const before = await inSandboxOverlay(ov._mountData({ userxattr: true }), options.target!, `${EDITS} && ${LIST_SCRIPT}`);
      expect(before).toContain('./dir/three file');
      expect(before).not.toContain('./gone');
      const layer = await ov.commit(scratch.path('layer'));
      expect(xattr(`${layer}/dir`, 'user.overlay.opaque')).toBe('y');
      const view = new OverlayMount({ lower: [layer, ...options.lower] });
      const after = await inSandboxOverlay(view._mountData({ userxattr: true }), options.target!, LIST_SCRIPT);
      expect(after).toBe(before);
      expect(fs.statSync(`${layer}/new`).uid).toBe(process.getuid!()); // root inside is the caller outside
    },
  );
});

describe('commit() keeps sub-second times', () => {
  it('mtime to the nanosecond, on files, directories and symlinks', async () => {
    const options = layers({ userxattr: true });
    const up = options.upper!;
    fs.mkdirSync(`${up}/d`);
    fs.writeFileSync(`${up}/d/f`, 'f');
    fs.symlinkSync('f', `${up}/d/l`);
    const t = 1234567890123456789n;
    for (const p of ['d/f', 'd/l', 'd']) native().utimensat(path.join(up, p), t, t + 1n, native().fsConstants.AT_SYMLINK_NOFOLLOW);
    const layer = await new OverlayMount(options).commit(scratch.path('layer'));
    for (const p of ['d/f', 'd/l', 'd']) expect(fs.lstatSync(path.join(layer, p), { bigint: true }).mtimeNs).toBe(t + 1n);
  });
});
