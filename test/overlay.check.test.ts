// Bad layers are refused before anything is mounted — the host's mount table is the same before
// and after — in both lanes; in the rootless lane a valid overlay is refused by the kernel with
// ERR_PERMISSION (host mounts need root), again with nothing mounted.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { NsgroupsError, OverlayMount, type OverlayMountOptions } from '../lib';
import { VOLATILE_MARKER } from '../lib/overlay/check';
import { itIf, itRootless } from './helpers/host';
import { mountinfoLines, mountsUnder, Scratch } from './helpers/layers';

const shmIsSeparate = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(os.tmpdir()).dev;

let scratch: Scratch;
beforeEach(() => {
  scratch = Scratch.create('check');
});
afterEach(async () => {
  await scratch.cleanup();
});

function layout(extra: Partial<OverlayMountOptions> = {}): OverlayMountOptions {
  return {
    lower: [scratch.dir('l1', { a: '1' }), scratch.dir('l2', { b: '2' })],
    upper: scratch.dir('upper'),
    work: scratch.dir('work'),
    target: scratch.dir('merged'),
    ...extra,
  };
}

/** mount() and _check() both reject with `code` and a message matching `message`; nothing is mounted. */
async function refusedOnDisk(options: OverlayMountOptions, code: string, message: RegExp): Promise<NsgroupsError> {
  const before = mountinfoLines(scratch.root);
  const ov = new OverlayMount(options);
  const checked = await ov._check().then(
    () => null,
    (e: unknown) => e,
  );
  const mounted = await ov.mount().then(
    () => null,
    (e: unknown) => e,
  );
  for (const err of [checked, mounted]) {
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
  }
  expect(ov.mounted).toBe(false);
  expect(mountinfoLines(scratch.root)).toEqual(before);
  expect(mountsUnder(scratch.root)).toEqual([]);
  return mounted as NsgroupsError;
}

describe('layers checked on disk before mounting', () => {
  it('a missing lower is ERR_NOT_FOUND naming it', async () => {
    const err = await refusedOnDisk(layout({ lower: [scratch.dir('l1'), scratch.path('gone')] }), 'ERR_NOT_FOUND', /lower\[1\] .*gone\) does not exist/);
    expect(err.path).toBe(scratch.path('gone'));
  });

  it('a lower that is a file', async () => {
    fs.writeFileSync(scratch.path('file'), 'x');
    await refusedOnDisk(layout({ lower: [scratch.path('file'), scratch.dir('l2')] }), 'ERR_INVALID_ARG', /lower\[0\] .* is not a directory/);
  });

  it('a missing upper, work or target', async () => {
    await refusedOnDisk(layout({ upper: scratch.path('no-upper') }), 'ERR_NOT_FOUND', /upper .* does not exist/);
    await refusedOnDisk(layout({ work: scratch.path('no-work') }), 'ERR_NOT_FOUND', /work .* does not exist/);
    const ov = new OverlayMount(layout({ target: scratch.path('no-target') }));
    await expect(ov._check()).resolves.toBeUndefined(); // a sandbox mount needs no host target
    await expect(ov.mount()).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/target .* does not exist/) });
  });

  it('a work dir that is not empty', async () => {
    const options = layout();
    fs.writeFileSync(`${options.work}/stray`, 'x');
    await refusedOnDisk(options, 'ERR_INVALID_ARG', /work .* must be empty.*contains 'stray'/);
  });

  it('a work dir that holds only what overlayfs left there is fine', async () => {
    const options = layout();
    fs.mkdirSync(`${options.work}/work`);
    await expect(new OverlayMount(options)._check()).resolves.toBeUndefined();
  });

  itIf(shmIsSeparate, '/dev/shm is not a filesystem of its own here', 'upper and work on different filesystems (/tmp and the /dev/shm tmpfs)', async () => {
    const shmWork = fs.mkdtempSync('/dev/shm/nsgroups-ovl-work-');
    try {
      await refusedOnDisk(layout({ work: shmWork }), 'ERR_INVALID_ARG', /different filesystems/);
    } finally {
      fs.rmSync(shmWork, { recursive: true, force: true });
    }
  });

  it('layers that overlap once symlinks are resolved', async () => {
    const l1 = scratch.dir('l1');
    fs.mkdirSync(`${l1}/inner`);
    fs.symlinkSync(`${l1}/inner`, scratch.path('sneaky'));
    await refusedOnDisk(
      layout({ lower: [l1, scratch.dir('l2')], upper: scratch.path('sneaky') }),
      'ERR_INVALID_ARG',
      /upper .* lies inside lower\[0\].* once symlinks are resolved/,
    );
  });

  it('the marker of a volatile mount that was not cleanly unmounted', async () => {
    const options = layout({ volatile: true });
    fs.mkdirSync(`${options.work}/${VOLATILE_MARKER}`, { recursive: true });
    await refusedOnDisk(options, 'ERR_INVALID_ARG', /volatile marker/);
  });

  itRootless('a valid overlay is refused by the kernel: host mounts need root', async () => {
    const before = mountinfoLines(scratch.root);
    const ov = new OverlayMount(layout());
    await expect(ov._check()).resolves.toBeUndefined();
    const err = await ov.mount().then(
      () => null,
      (e: unknown) => e as NsgroupsError,
    );
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ code: 'ERR_PERMISSION', errno: -1, syscall: 'mount' });
    expect(err!.message).toMatch(/needs root.*spawn\(\{ rootfs \}\)/);
    expect(ov.mounted).toBe(false);
    expect(mountinfoLines(scratch.root)).toEqual(before);
  });

  it('mount() without a target says how to give one', async () => {
    const { target: _unused, ...noTarget } = layout();
    await expect(new OverlayMount(noTarget).mount()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/no target/) });
  });

  it('unmount() of an overlay that is not mounted does nothing', async () => {
    const ov = new OverlayMount(layout());
    await expect(ov.unmount()).resolves.toBeUndefined();
    await expect(ov.unmount({ lazy: 1 } as unknown as { lazy: boolean })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});
