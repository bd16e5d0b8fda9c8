// OverlayMount's options: bad input is ERR_INVALID_ARG before anything is touched, and the
// mount data string escapes what overlayfs' option parser treats specially. Both lanes.
import { NsgroupsError, OverlayMount, type OverlayMountOptions } from '../lib';
import { escapeOverlayPath } from '../lib/overlay/options';

function refused(options: unknown, message: RegExp): void {
  let error: unknown;
  try {
    new OverlayMount(options as OverlayMountOptions);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(NsgroupsError);
  expect((error as NsgroupsError).code).toBe('ERR_INVALID_ARG');
  expect((error as NsgroupsError).message).toMatch(message);
}

describe('OverlayMount options', () => {
  const rw = { lower: ['/l/a', '/l/b'], upper: '/c/upper', work: '/c/work', target: '/c/merged' };

  it.each<[string, unknown, RegExp]>([
    ['options that are not an object', 'x', /options must be an object/],
    ['no lower', { upper: '/u', work: '/w' }, /'lower' is required/],
    ['an empty lower', { lower: [] }, /at least one/],
    ['lower that is a string', { lower: '/a' }, /lower must be an array/],
    ['a lower that is not a string', { lower: ['/a', 3] }, /lower\[1\] must be a string/],
    ['a NUL byte in a lower', { lower: ['/a\0b', '/c'] }, /lower\[0\] must not contain NUL/],
    ['a NUL byte in upper', { ...rw, upper: '/u\0' }, /upper must not contain NUL/],
    ['a NUL byte in target', { ...rw, target: '/m\0' }, /target must not contain NUL/],
    ['an unknown key, with a suggestion', { ...rw, uper: '/x' }, /unknown option 'uper' \(did you mean 'upper'\?\)/],
    ["mount(8)'s spelling", { ...rw, lowerdir: '/a:/b' }, /'lowerdir' is not supported: use lower/],
    ['upper without work', { lower: ['/a'], upper: '/u' }, /upper and work go together/],
    ['work without upper', { lower: ['/a'], work: '/w' }, /upper and work go together/],
    ['readonly: false without upper', { lower: ['/a', '/b'], readonly: false }, /needs an upper layer/],
    ['a read-only overlay of one layer', { lower: ['/a'] }, /at least 2 lower layers/],
    ['too many layers', { lower: Array.from({ length: 501 }, (_, i) => `/l/${i}`) }, /at most 500/],
    ['upper inside a lower', { ...rw, upper: '/l/a/up' }, /upper \(\/l\/a\/up\) lies inside lower\[0\]/],
    ['work equal to upper', { ...rw, work: '/c/upper' }, /upper and work are the same directory \(\/c\/upper\)/],
    ['the same lower twice', { lower: ['/l/a', '/l/a/'] }, /lower\[0\] and lower\[1\] are the same directory/],
    ['a target inside upper', { ...rw, target: '/c/upper/m' }, /target \(\/c\/upper\/m\) lies inside upper/],
    ['a target containing the layers', { ...rw, target: '/c' }, /upper \(\/c\/upper\) lies inside target \(\/c\)/],
    ['volatile without upper', { lower: ['/a', '/b'], volatile: true }, /volatile applies to the upper layer/],
    ['an unknown redirectDir mode', { ...rw, redirectDir: 'yes' }, /redirectDir must be one of/],
    ['metacopy that is not a boolean', { ...rw, metacopy: 'on' }, /metacopy must be true or false/],
    ['userxattr with redirectDir on', { ...rw, userxattr: true, redirectDir: true }, /cannot be combined with userxattr/],
    ['userxattr with metacopy', { ...rw, userxattr: true, metacopy: true }, /metacopy cannot be combined with userxattr/],
    ['metacopy with redirectDir follow', { ...rw, metacopy: true, redirectDir: 'follow' }, /metacopy needs redirectDir 'on'/],
  ])('refuses %s', (_label, options, message) => refused(options, message));

  it('resolves relative paths against the working directory and exposes what it will mount', () => {
    const ov = new OverlayMount({ lower: ['img/top', '/img/base/'], upper: '/ctr/./upper', work: '/ctr/work', target: '/ctr/merged' });
    expect(ov.lower).toEqual([`${process.cwd()}/img/top`, '/img/base']);
    expect(ov.upper).toBe('/ctr/upper');
    expect(ov.work).toBe('/ctr/work');
    expect(ov.target).toBe('/ctr/merged');
    expect(ov.readonly).toBe(false);
    expect(ov.mounted).toBe(false);
    ov.lower.push('/x'); // a copy
    expect(ov.lower).toHaveLength(2);
  });

  it('is read-only without an upper layer, and on request with one', () => {
    expect(new OverlayMount({ lower: ['/a', '/b'] }).readonly).toBe(true);
    expect(new OverlayMount({ lower: ['/a', '/b'] }).upper).toBeUndefined();
    expect(new OverlayMount({ lower: ['/a'], upper: '/u', work: '/w', readonly: true }).readonly).toBe(true);
  });
});

describe('mount data', () => {
  it('lists lowers topmost first, then upper and work', () => {
    const ov = new OverlayMount({ lower: ['/l/top', '/l/base'], upper: '/c/u', work: '/c/w' });
    expect(ov._mountData({ userxattr: false })).toBe('lowerdir=/l/top:/l/base,upperdir=/c/u,workdir=/c/w');
    expect(ov._mountData({ userxattr: true })).toBe('lowerdir=/l/top:/l/base,upperdir=/c/u,workdir=/c/w,userxattr');
  });

  it("escapes ',', ':' and '\\' with a backslash in every path", () => {
    expect(escapeOverlayPath('/a,b:c\\d=e f')).toBe('/a\\,b\\:c\\\\d=e f');
    const ov = new OverlayMount({ lower: ['/x:y', '/p,q'], upper: '/u\\v', work: '/w' });
    expect(ov._mountData({ userxattr: false })).toBe('lowerdir=/x\\:y:/p\\,q,upperdir=/u\\\\v,workdir=/w');
  });

  it('renders the optional features as overlayfs spells them', () => {
    const ov = new OverlayMount({ lower: ['/a'], upper: '/u', work: '/w', volatile: true, redirectDir: true, metacopy: true });
    expect(ov._mountData({ userxattr: false })).toBe('lowerdir=/a,upperdir=/u,workdir=/w,redirect_dir=on,metacopy=on,volatile');
    const ro = new OverlayMount({ lower: ['/a', '/b'], redirectDir: 'nofollow', metacopy: false });
    expect(ro._mountData({ userxattr: true })).toBe('lowerdir=/a:/b,userxattr,redirect_dir=nofollow,metacopy=off');
  });

  it('takes another upper and work (a sandbox-private pair), checked like the own ones', () => {
    const ov = new OverlayMount({ lower: ['/l/a', '/l/b'] });
    expect(ov._mountData({ userxattr: true, upper: '/s/u', work: '/s/w' })).toBe('lowerdir=/l/a:/l/b,upperdir=/s/u,workdir=/s/w,userxattr');
    expect(() => ov._mountData({ userxattr: true, upper: '/s/u' })).toThrow(/upper and work go together/);
    expect(() => ov._mountData({ userxattr: true, upper: '/l/a/u', work: '/s/w' })).toThrow(/upper \(\/l\/a\/u\) lies inside lower\[0\]/);
  });

  it('refuses what overlayfs would refuse inside a user namespace', () => {
    const ov = new OverlayMount({ lower: ['/a'], upper: '/u', work: '/w', redirectDir: 'on' });
    expect(ov._mountData({ userxattr: false })).toContain('redirect_dir=on');
    expect(() => ov._mountData({ userxattr: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => ov._mountData({} as { userxattr: boolean })).toThrow(/userxattr must be true or false/);
  });

  it('refuses option data longer than the page mount(2) reads, instead of letting the kernel cut layers off', () => {
    const lower = Array.from({ length: 40 }, (_, i) => `/layers/${'x'.repeat(100)}/${i}`);
    const ov = new OverlayMount({ lower, upper: '/u', work: '/w' });
    expect(() => ov._mountData({ userxattr: false })).toThrow(/mount\(2\) reads at most 4095/);
  });
});
