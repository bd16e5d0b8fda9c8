// changes(): exact lists for what the kernel wrote into the upper dir — on the host (root lane),
// inside a user namespace with user.overlay.* markers (both lanes), and over an upper dir built
// by hand with whiteouts and opaque markers (both lanes).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { OverlayMount, type OverlayChange, type OverlayMountOptions } from '../lib';
import { native } from '../lib/native';
import { itIf, itRoot, userNamespacesAllowed } from './helpers/host';
import { inSandboxOverlay, Scratch } from './helpers/layers';

let scratch: Scratch;
const opened: OverlayMount[] = [];
beforeEach(() => {
  scratch = Scratch.create('changes');
});
afterEach(async () => {
  for (const ov of opened.splice(0)) await ov.unmount({ lazy: true }).catch(() => undefined);
  await scratch.cleanup();
});

function layers(extra: Partial<OverlayMountOptions> = {}): OverlayMountOptions {
  return {
    lower: [
      scratch.dir('top', { shared: 'top', 'etc/top.conf': 't' }),
      scratch.dir('base', {
        shared: 'base',
        gone: 'g',
        'etc/base.conf': 'b',
        'bin/tool': '#!/bin/sh\n',
        'dir/one': '1',
        'dir/sub/two': '2',
        'quiet/deep/file': 'q',
      }),
    ],
    upper: scratch.dir('upper'),
    work: scratch.dir('work'),
    target: scratch.dir('merged'),
    ...extra,
  };
}

/** Shell commands that change the merged view in every way changes() distinguishes. */
const EDITS = [
  'echo n > new',
  'echo more >> etc/base.conf',
  'rm gone',
  'mkdir -p newdir/inner && echo f > newdir/inner/f',
  'chmod 700 bin/tool',
  'rm -rf dir && mkdir dir && echo 1b > dir/one && echo 3 > dir/three', // an opaque directory
  'rm shared && mkdir shared && echo x > shared/x', // a file became a directory
].join(' && ');

const EXPECTED: OverlayChange[] = [
  { path: '/bin', kind: 'modified' },
  { path: '/bin/tool', kind: 'modified' },
  { path: '/dir', kind: 'modified' },
  { path: '/dir/one', kind: 'modified' },
  { path: '/dir/sub', kind: 'deleted' },
  { path: '/dir/three', kind: 'added' },
  { path: '/etc', kind: 'modified' },
  { path: '/etc/base.conf', kind: 'modified' },
  { path: '/gone', kind: 'deleted' },
  { path: '/new', kind: 'added' },
  { path: '/newdir', kind: 'added' },
  { path: '/newdir/inner', kind: 'added' },
  { path: '/newdir/inner/f', kind: 'added' },
  { path: '/shared', kind: 'modified' },
  { path: '/shared/x', kind: 'added' },
];

function shell(dir: string, script: string): void {
  execFileSync('sh', ['-c', script], { cwd: dir, stdio: 'ignore' });
}

describe('changes() after the kernel wrote the upper dir', () => {
  itRoot('on the host: added, modified, deleted, an opaque directory and a file turned directory, exactly', async () => {
    const options = layers();
    const ov = new OverlayMount(options);
    opened.push(ov);
    expect(await ov.changes()).toEqual([]);
    await ov.mount();
    shell(options.target!, EDITS);
    expect(await ov.changes()).toEqual(EXPECTED); // readable while mounted
    await ov.unmount();
    expect(await ov.changes()).toEqual(EXPECTED);
    expect(await new OverlayMount(options).changes()).toEqual(EXPECTED); // a fresh object finds trusted.overlay.*
  });

  itRoot('a rename is a deletion and an addition; with redirectDir a renamed directory brings its content', async () => {
    const options = layers({ redirectDir: true });
    const ov = new OverlayMount(options);
    opened.push(ov);
    await ov.mount();
    shell(options.target!, 'mv bin/tool bin/tool2 && mv dir moved');
    await ov.unmount();
    expect(await ov.changes()).toEqual([
      { path: '/bin', kind: 'modified' },
      { path: '/bin/tool', kind: 'deleted' },
      { path: '/bin/tool2', kind: 'added' },
      { path: '/dir', kind: 'deleted' },
      { path: '/moved', kind: 'added' },
      { path: '/moved/one', kind: 'added' },
      { path: '/moved/sub', kind: 'added' },
      { path: '/moved/sub/two', kind: 'added' },
    ]);
  });

  itRoot('a metacopy (metadata-only copy-up) is a modification', async () => {
    const options = layers({ metacopy: true });
    fs.writeFileSync(`${options.lower[1]}/big`, Buffer.alloc(1 << 16, 1));
    const ov = new OverlayMount(options);
    opened.push(ov);
    await ov.mount();
    fs.chmodSync(`${options.target}/big`, 0o600);
    await ov.unmount();
    expect(await ov.changes()).toEqual([{ path: '/big', kind: 'modified' }]);
  });

  itRoot("the other prefix's overlay.* xattrs are a file's own data, not markers", async () => {
    const options = layers();
    const ov = new OverlayMount(options);
    opened.push(ov);
    await ov.mount();
    fs.writeFileSync(`${options.target}/etc/new.conf`, 'n');
    await ov.unmount();
    // in a trusted.* upper, user.overlay.opaque is only data: /etc keeps merging with the lowers
    native().lsetxattr(`${options.upper}/etc`, 'user.overlay.opaque', Buffer.from('y'), 0);
    expect(await new OverlayMount(options).changes()).toEqual([
      { path: '/etc', kind: 'modified' },
      { path: '/etc/new.conf', kind: 'added' },
    ]);
  });

  itRoot('mount points the library made are not changes; everything else still is', async () => {
    const options = layers();
    const ov = new OverlayMount(options);
    opened.push(ov);
    expect(await ov._prepareMountpoints(['/proc', '/dev', '/tmp', '/etc/sub/mnt', '/shared/x'])).toEqual(['/shared/x']);
    expect(fs.statSync(`${options.upper}/etc`).mtimeMs).toBe(fs.statSync(`${options.lower[0]}/etc`).mtimeMs); // copied up by hand
    expect(await ov.changes()).toEqual([]);
    await ov.mount();
    expect(fs.statSync(`${options.target}/proc`).isDirectory()).toBe(true);
    expect(fs.statSync(`${options.target}/etc/sub/mnt`).isDirectory()).toBe(true);
    fs.writeFileSync(`${options.target}/tmp/x`, 'x');
    await ov.unmount();
    expect(await ov.changes()).toEqual([{ path: '/tmp/x', kind: 'added' }]);
    // another object does not know who made them: they are real directories in upper
    const fresh = new OverlayMount(options);
    expect((await fresh.changes()).map((c) => c.path)).toEqual(['/dev', '/etc', '/etc/sub', '/etc/sub/mnt', '/proc', '/tmp', '/tmp/x']);
    expect(await fresh.changes({ ignore: ['/dev', '/proc', '/tmp', '/etc/sub', '/etc/sub/mnt/'] })).toEqual([{ path: '/tmp/x', kind: 'added' }]);
  });

  itIf(
    userNamespacesAllowed,
    'unprivileged user namespaces are disabled',
    'mount points prepared in upper show in a sandbox mount and are not changes',
    async () => {
      const options = layers();
      const ov = new OverlayMount(options);
      expect(await ov._prepareMountpoints(['/proc', '/etc/mnt'])).toEqual([]);
      const out = await inSandboxOverlay(
        ov._mountData({ userxattr: true }),
        options.target!,
        'test -d proc && test -d etc/mnt && echo ok > etc/mnt/file && echo ok',
      );
      expect(out).toBe('ok\n');
      // the mount point itself is no change, what was written into it is (and so its parents are)
      expect(await ov.changes()).toEqual([
        { path: '/etc', kind: 'modified' },
        { path: '/etc/mnt/file', kind: 'added' },
      ]);
    },
  );

  it('changes() of a read-only overlay is empty; bad options are refused', async () => {
    const ro = new OverlayMount({ lower: [scratch.dir('a', { f: '1' }), scratch.dir('b')] });
    expect(await ro.changes()).toEqual([]);
    await expect(ro.changes({ ignore: ['relative'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(ro.changes({ ignroe: [] } as unknown as { ignore: string[] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/did you mean 'ignore'/),
    });
  });

  itIf(
    userNamespacesAllowed,
    'unprivileged user namespaces are disabled',
    'inside a user namespace (userxattr, user.overlay.* markers): the same exact list',
    async () => {
      const options = layers();
      const ov = new OverlayMount(options);
      await inSandboxOverlay(ov._mountData({ userxattr: true }), options.target!, EDITS);
      expect(await ov.changes()).toEqual(EXPECTED);
      expect(await new OverlayMount(options).changes()).toEqual(EXPECTED); // the prefix found in the upper dir
    },
  );
});

describe('changes() over an upper dir built by hand (both lanes: whiteouts are 0/0 devices anyone may create)', () => {
  it('reads whiteouts, user.overlay.opaque, and what exists below', async () => {
    const options = layers({ userxattr: true });
    const up = options.upper!;
    const whiteout = (p: string): void => native().mknod(p, fs.constants.S_IFCHR, 0, 0);
    whiteout(`${up}/gone`);
    whiteout(`${up}/never-existed`); // a whiteout of nothing is no change
    fs.mkdirSync(`${up}/dir`);
    native().lsetxattr(`${up}/dir`, 'user.overlay.opaque', Buffer.from('y'), 0);
    fs.writeFileSync(`${up}/dir/one`, 'new one');
    fs.mkdirSync(`${up}/etc`);
    fs.writeFileSync(`${up}/etc/top.conf`, 'changed');
    fs.writeFileSync(`${up}/added`, 'a');
    const expected: OverlayChange[] = [
      { path: '/added', kind: 'added' },
      { path: '/dir', kind: 'modified' },
      { path: '/dir/one', kind: 'modified' },
      { path: '/dir/sub', kind: 'deleted' },
      { path: '/etc', kind: 'modified' },
      { path: '/etc/top.conf', kind: 'modified' },
      { path: '/gone', kind: 'deleted' },
    ];
    expect(await new OverlayMount(options).changes()).toEqual(expected);
    const { userxattr: _u, ...detect } = options;
    expect(await new OverlayMount(detect).changes()).toEqual(expected); // user.overlay.* found in the upper dir
  });

  it('a whiteout in a lower layer (a committed one) hides what is below it', async () => {
    const options = layers();
    const mid = scratch.dir('mid', { fresh: 'f' });
    native().mknod(`${mid}/gone`, fs.constants.S_IFCHR, 0, 0);
    const stacked = { ...options, lower: [options.lower[0], mid, options.lower[1]] };
    fs.writeFileSync(`${options.upper}/gone`, 'recreated'); // absent below (whited out in mid): added
    fs.writeFileSync(`${options.upper}/fresh`, 'f2'); // in mid: modified
    expect(await new OverlayMount(stacked).changes()).toEqual([
      { path: '/fresh', kind: 'modified' },
      { path: '/gone', kind: 'added' },
    ]);
  });
});

describe('redirects cannot lead out of the layers', () => {
  itRoot('a forged trusted.overlay.redirect with .. is refused as invalid (the kernel refuses it too)', async () => {
    const options = layers();
    fs.mkdirSync(`${options.upper}/moved`);
    native().lsetxattr(`${options.upper}/moved`, 'trusted.overlay.redirect', Buffer.from('../../etc'), 0);
    const ov = new OverlayMount(options);
    await expect(ov.changes()).rejects.toMatchObject({ code: 'ERR_SYSTEM', message: expect.stringMatching(/invalid overlay redirect/) });
    await expect(ov.commit(scratch.path('layer'))).rejects.toMatchObject({ code: 'ERR_SYSTEM' });
    expect(fs.existsSync(scratch.path('layer'))).toBe(false);
  });

  itRoot('an absolute redirect does not follow a symlink in a lower layer', async () => {
    const outside = scratch.dir('outside', { 'sub/secret': 's' });
    const options = layers();
    fs.symlinkSync(outside, `${options.lower[1]}/link`);
    fs.mkdirSync(`${options.upper}/moved`);
    native().lsetxattr(`${options.upper}/moved`, 'trusted.overlay.redirect', Buffer.from('/link/sub'), 0);
    expect(await new OverlayMount(options).changes()).toEqual([{ path: '/moved', kind: 'added' }]);
  });

  it('under userxattr a redirect is not followed (overlayfs forces redirect_dir=nofollow there)', async () => {
    const options = layers({ userxattr: true });
    fs.mkdirSync(`${options.upper}/moved`);
    native().lsetxattr(`${options.upper}/moved`, 'user.overlay.redirect', Buffer.from('dir'), 0);
    expect(await new OverlayMount(options).changes()).toEqual([{ path: '/moved', kind: 'added' }]);
    const layer = await new OverlayMount(options).commit(scratch.path('layer'));
    expect(fs.readdirSync(`${layer}/moved`)).toEqual([]);
    expect(native().llistxattr(`${layer}/moved`)).toEqual([]);
  });
});
