// The `devices` vocabulary on its own (no system touched, both lanes): how a list resolves into the
// form both kernels keep (a default and one exception per pattern, as the v1 devices controller
// keeps them), what is refused, and the BPF program built from it and read back from its bytes.
// The kernel's side of the same rules is in cgroup.devices.test.ts and test/v2/devices.v2.test.ts.
import { Cgroup } from '../lib/index';
import { decodeDeviceProgram, encodeDeviceProgram } from '../lib/cgroup/device-program';
import { policyRules, resolveDevices, type DevicePolicy } from '../lib/cgroup/devices';

const R = 2;
const W = 4;
const M = 1;

function resolve(list: unknown[]): DevicePolicy {
  return resolveDevices(list, 'devices');
}

describe('a list resolves into a default and exceptions', () => {
  it('starts from deny all: [] denies everything, one entry allows one device', () => {
    expect(resolve([])).toEqual({ defaultAllow: false, exceptions: [] });
    expect(resolve([{ type: 'c', major: 1, minor: 3, access: 'rwm', allow: true }])).toEqual({
      defaultAllow: false,
      exceptions: [{ type: 'c', major: 1, minor: 3, access: R | W | M }],
    });
  });

  it("type 'a' with any device and 'rwm' resets; later entries win", () => {
    expect(
      resolve([
        { type: 'c', major: 1, minor: 3, allow: true },
        { type: 'a', allow: true },
      ]),
    ).toEqual({ defaultAllow: true, exceptions: [] });
    expect(resolve([{ allow: true }, { allow: false }])).toEqual({ defaultAllow: false, exceptions: [] }); // OCI's leading deny-all
    expect(
      resolve([
        { type: 'c', major: 1, minor: 3, allow: true },
        { type: 'c', major: 1, minor: 3, access: 'w', allow: false },
      ]).exceptions,
    ).toEqual([{ type: 'c', major: 1, minor: 3, access: R | M }]);
    expect(
      resolve([
        { type: 'c', major: 1, minor: 3, access: 'r', allow: true },
        { type: 'c', major: 1, minor: 3, access: 'w', allow: true },
      ]).exceptions,
    ).toEqual([{ type: 'c', major: 1, minor: 3, access: R | W }]);
  });

  it("type 'a' otherwise stands for both block and character devices; '*' and omitted numbers are wildcards", () => {
    expect(resolve([{ type: 'a', access: 'm', allow: true }]).exceptions).toEqual([
      { type: 'b', major: '*', minor: '*', access: M },
      { type: 'c', major: '*', minor: '*', access: M },
    ]);
    expect(resolve([{ type: 'c', major: 136, minor: '*', allow: true }]).exceptions).toEqual([{ type: 'c', major: 136, minor: '*', access: 7 }]);
  });

  it('an entry with the default takes access back from its pattern and the narrower ones inside it', () => {
    const p = resolve([
      { type: 'c', major: 1, minor: 3, allow: true },
      { type: 'c', major: 1, minor: 5, access: 'rw', allow: true },
      { type: 'c', major: 4, minor: 1, allow: true },
      { type: 'c', major: 1, access: 'w', allow: false },
    ]);
    expect(p.exceptions).toEqual([
      { type: 'c', major: 1, minor: 3, access: R | M },
      { type: 'c', major: 1, minor: 5, access: R },
      { type: 'c', major: 4, minor: 1, access: 7 },
    ]);
    // the same from allow-all: denies are the exceptions, a later allow takes them back
    const q = resolve([{ allow: true }, { type: 'c', major: 1, minor: 1, allow: false }, { type: 'c', major: 1, minor: 1, access: 'r', allow: true }]);
    expect(q).toEqual({ defaultAllow: true, exceptions: [{ type: 'c', major: 1, minor: 1, access: W | M }] });
  });

  it('cutting a hole in a wider exception is refused, naming both entries (the kernel would ignore it)', () => {
    expect(() =>
      resolve([
        { type: 'c', major: 1, allow: true },
        { type: 'c', major: 1, minor: 3, allow: false },
      ]),
    ).toThrow(/devices\[1\] \(deny c 1:3 rwm\) would deny part of devices\[0\] \(allow c 1:\* rwm\).*one by one/);
    expect(() =>
      resolve([
        { type: 'c', minor: 3, access: 'r', allow: true },
        { type: 'c', major: 1, access: 'r', allow: false },
      ]),
    ).toThrow(/would deny part of/);
    expect(() => resolve([{ allow: true }, { type: 'b', allow: false }, { type: 'b', major: 8, minor: 0, allow: true }])).toThrow(/would allow part of/);
    // no overlap in access: nothing to cut
    expect(
      resolve([
        { type: 'c', major: 1, access: 'r', allow: true },
        { type: 'c', major: 1, minor: 3, access: 'w', allow: false },
      ]).exceptions,
    ).toEqual([{ type: 'c', major: 1, minor: '*', access: R }]);
  });

  it('limits() lists it so that create() takes it back unchanged', () => {
    for (const list of [[...Cgroup.BASIC_DEVICES], [{ allow: true }, { type: 'b', major: 8, access: 'w', allow: false }], []]) {
      const p = resolve(list);
      expect(resolve(policyRules(p))).toEqual(p);
    }
    expect(policyRules(resolve([{ allow: true }]))).toEqual([{ type: 'a', major: '*', minor: '*', access: 'rwm', allow: true }]);
  });

  it('BASIC_DEVICES: null, zero, full, random, urandom, tty, ptmx and /dev/pts, frozen', () => {
    expect(Cgroup.BASIC_DEVICES.map((d) => `${d.type} ${d.major}:${d.minor} ${d.access}`)).toEqual([
      'c 1:3 rwm',
      'c 1:5 rwm',
      'c 1:7 rwm',
      'c 1:8 rwm',
      'c 1:9 rwm',
      'c 5:0 rwm',
      'c 5:2 rwm',
      'c 136:* rwm',
    ]);
    expect(Object.isFrozen(Cgroup.BASIC_DEVICES) && Object.isFrozen(Cgroup.BASIC_DEVICES[0])).toBe(true);
  });
});

describe('bad entries are ERR_INVALID_ARG before anything is made', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['not a list', { type: 'c' }, /must be an array/],
    ['an unknown type', [{ type: 'x', allow: true }], /'c' \(character\), 'b' \(block\) or 'a'/],
    ['a major out of range', [{ type: 'c', major: 4096, minor: 0, allow: true }], /major must be between 0 and 4095/],
    ['a negative minor', [{ type: 'c', major: 1, minor: -1, allow: true }], /minor must be between 0 and 1048575/],
    ['a fractional major', [{ type: 'c', major: 1.5, allow: true }], /major must be an integer/],
    ['a major as a word', [{ type: 'c', major: 'one', allow: true }], /number or '\*'/],
    ['an access letter outside rwm', [{ type: 'c', major: 1, minor: 3, access: 'rx', allow: true }], /letters of 'rwm'/],
    ['an empty access', [{ type: 'c', major: 1, minor: 3, access: '', allow: true }], /must not be empty/],
    ['no allow', [{ type: 'c', major: 1, minor: 3 }], /allow is required/],
    ['allow as a string', [{ type: 'c', major: 1, minor: 3, allow: 'yes' }], /allow must be true or false/],
    ['an unknown key', [{ type: 'c', major: 1, minor: 3, allow: true, mode: 'rw' }], /unknown option 'mode'/],
    ['a path instead of numbers', [{ path: '/dev/null', allow: true }], /ls -l \/dev\/NAME/],
    ['an entry that is not an object', ['c 1:3 rwm'], /devices\[0\] must be an object/],
  ];
  for (const [what, devices, message] of bad) {
    it(what, async () => {
      await expect(Cgroup.create(`nsgroups-never-${process.pid}`, { devices } as never)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG',
        message: expect.stringMatching(message),
      });
    });
  }
});

describe('the BPF program of a policy', () => {
  const policies: DevicePolicy[] = [
    resolve([]),
    resolve([{ allow: true }]),
    resolve([...Cgroup.BASIC_DEVICES, { type: 'b', major: 8, minor: 0, access: 'r', allow: true }, { type: 'a', access: 'm', allow: true }]),
    resolve([{ allow: true }, { type: 'c', major: 1, minor: 5, access: 'w', allow: false }, { type: 'b', allow: false }]),
  ];

  it('is read back from its bytes, in either byte order', () => {
    for (const p of policies) {
      expect(decodeDeviceProgram(encodeDeviceProgram(p))).toEqual(p);
      expect(decodeDeviceProgram(encodeDeviceProgram(p, false), false)).toEqual(p);
    }
  });

  it('has the shape the verifier walks: the context fields loaded first, one block per exception, the default last', () => {
    const bytes = encodeDeviceProgram(resolve([{ type: 'c', major: 1, minor: 3, access: 'rw', allow: true }]), true);
    const insn = (n: number) => bytes.subarray(n * 8, n * 8 + 8).toString('hex');
    expect(bytes.length / 8).toBe(6 + 8 + 2);
    expect(insn(0)).toBe('6112000000000000'); // r2 = *(u32 *)(r1 + 0): access_type
    expect(insn(6)).toBe('5502070002000000'); // if r2 != BPF_DEVCG_DEV_CHAR goto next (+7)
    expect(insn(8)).toBe('5701000001000000'); // r1 &= ~rw (mknod)
    expect(insn(9)).toBe('5501040000000000'); // if r1 != 0 goto next (+4): a right asked for that it does not grant
    expect(insn(10)).toBe('5504030001000000'); // if r4 (major) != 1 goto next (+3)
    expect(insn(12)).toBe('b700000001000000'); // r0 = 1 (allow)
    expect(insn(14)).toBe('b700000000000000'); // next: r0 = 0 (deny)
    expect(insn(15)).toBe('9500000000000000'); // exit
  });

  it('refuses bytes that are not such a program, and skips the zero-extensions a JIT may ask for', () => {
    const p = policies[2];
    const bytes = encodeDeviceProgram(p, true);
    expect(decodeDeviceProgram(Buffer.alloc(16), true)).toBeNull();
    expect(decodeDeviceProgram(bytes.subarray(0, bytes.length - 8), true)).toBeNull();
    const tampered = Buffer.from(bytes);
    tampered[6 * 8 + 2] = 9; // a jump that lands elsewhere
    expect(decodeDeviceProgram(tampered, true)).toBeNull();
    const zext = Buffer.from('bc22000000000000', 'hex'); // w2 = w2
    expect(decodeDeviceProgram(Buffer.concat([bytes.subarray(0, 16), zext, bytes.subarray(16)]), true)).toEqual(p);
  });
});
