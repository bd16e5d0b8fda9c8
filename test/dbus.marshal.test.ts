// The D-Bus wire format of lib/dbus/marshal.ts, against bytes laid out by hand from the
// specification ("Marshaling (Wire Format)"). The same code talks to a real dbus-daemon in
// dbus.connection.test.ts and to a real systemd in the systemd lane.
import { decodeMessage, encodeMessage, messageLength, MessageType, Reader, splitSignature, Variant, Writer } from '../lib/dbus/marshal';
import { NsgroupsError } from '../lib/errors';

const hex = (b: Buffer) => b.toString('hex');
const written = (type: string, value: unknown) => {
  const w = new Writer();
  w.write(type, value);
  return w.done();
};
const roundTrip = (type: string, value: unknown) => new Reader(written(type, value)).read(type);

describe('signatures', () => {
  it('splits a signature into complete types', () => {
    expect(splitSignature('ssa(sv)a(sa(sv))')).toEqual(['s', 's', 'a(sv)', 'a(sa(sv))']);
    expect(splitSignature('a{sv}uoxgb')).toEqual(['a{sv}', 'u', 'o', 'x', 'g', 'b']);
    expect(splitSignature('')).toEqual([]);
  });

  it.each([
    ['(', 'ends inside a type'],
    ['a', 'ends inside a type'],
    ['()', 'empty struct'],
    ['a{vs}', 'dict key must be a basic type'],
    ['a{sss}', 'exactly a key and a value'],
    ['z', "unknown type code 'z'"],
  ])('refuses %s', (sig, why) => {
    expect(() => splitSignature(sig)).toThrow(why);
  });
});

describe('marshaling', () => {
  it('lays out basic types little-endian with their alignment', () => {
    // y at 0, then u aligned to 4; t aligned to 8
    const w = new Writer();
    w.write('y', 7);
    w.write('u', 0x01020304);
    w.write('t', 5n);
    expect(hex(w.done())).toBe('07000000' + '04030201' + '0500000000000000');
  });

  it("writes strings with a length, their bytes and a NUL; 'g' with a one-byte length", () => {
    expect(hex(written('s', 'abc'))).toBe('03000000' + '616263' + '00');
    expect(hex(written('g', 'a(sv)'))).toBe('05' + '6128737629' + '00');
    expect(hex(written('b', true))).toBe('01000000');
  });

  it('counts array bytes without the padding before the first element', () => {
    // a(yy): length, pad to 8, two structs of two bytes each, each struct aligned to 8
    expect(
      hex(
        written('a(yy)', [
          [1, 2],
          [3, 4],
        ]),
      ),
    ).toBe('0a000000' + '00000000' + '0102' + '000000000000' + '0304');
  });

  it('writes a variant as its signature then the value, aligned for its own type', () => {
    expect(hex(written('v', new Variant('u', 9)))).toBe('01' + '7500' + '00' + '09000000');
  });

  it('round-trips every type', () => {
    const values: Array<[string, unknown]> = [
      ['y', 255],
      ['b', false],
      ['n', -2],
      ['q', 65535],
      ['i', -70000],
      ['u', 4294967295],
      ['x', -(1n << 62n)],
      ['t', (1n << 64n) - 1n],
      ['d', 0.25],
      ['s', 'grüße'],
      ['o', '/org/freedesktop/systemd1/unit/a_2escope'],
      ['g', 'a{sv}'],
      ['as', ['a', 'b', '']],
      [
        'a(sv)',
        [
          ['PIDs', new Variant('au', [1, 2])],
          ['Delegate', new Variant('b', true)],
        ],
      ],
    ];
    for (const [type, value] of values) expect(roundTrip(type, value)).toEqual(value);
  });

  it('reads dicts as Maps and writes them from a Map, pairs or an object', () => {
    const want = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    expect(roundTrip('a{su}', want)).toEqual(want);
    expect(
      roundTrip('a{su}', [
        ['a', 1],
        ['b', 2],
      ]),
    ).toEqual(want);
    expect(roundTrip('a{su}', { a: 1, b: 2 })).toEqual(want);
  });

  it('refuses values that do not fit their type, before anything is sent', () => {
    expect(() => written('y', 256)).toThrow(NsgroupsError);
    expect(() => written('u', -1)).toThrow('0..4294967295');
    expect(() => written('t', 2 ** 60)).toThrow('safe integer');
    expect(() => written('o', 'not/a/path')).toThrow('not an object path');
    expect(() => written('s', 'a\0b')).toThrow('NUL');
    expect(() => written('v', 3)).toThrow('Variant');
    expect(() => written('(su)', ['x'])).toThrow('2 fields');
  });
});

describe('messages', () => {
  const call = {
    type: MessageType.MethodCall,
    flags: 0,
    serial: 7,
    path: '/org/freedesktop/systemd1',
    interface: 'org.freedesktop.systemd1.Manager',
    member: 'StartTransientUnit',
    destination: 'org.freedesktop.systemd1',
    signature: 'ssa(sv)a(sa(sv))',
    body: ['x.scope', 'fail', [['PIDs', new Variant('au', [42])]], []],
  };

  it('encodes a method call that decodes to itself, body aligned to 8', () => {
    const bytes = encodeMessage(call);
    expect(String.fromCharCode(bytes[0])).toBe('l');
    expect(messageLength(bytes)).toBe(bytes.length);
    const fieldsEnd = 16 + bytes.readUInt32LE(12);
    expect(bytes.length - bytes.readUInt32LE(4)).toBe(fieldsEnd + ((8 - (fieldsEnd % 8)) % 8));
    expect(decodeMessage(bytes)).toEqual({ ...call });
  });

  it('says how long a message is only once its fixed header is there', () => {
    const bytes = encodeMessage(call);
    expect(messageLength(bytes.subarray(0, 15))).toBeNull();
    expect(messageLength(bytes.subarray(0, 16))).toBe(bytes.length);
  });

  it('decodes a big-endian message (the sender chooses)', () => {
    // a method return, serial 2, reply to 1, signature 'u', body 0x0a0b0c0d — laid out big-endian by hand
    const fields = Buffer.from(
      '05017500' +
        '00000001' + // REPLY_SERIAL: code 5, signature 'u', (aligned) value 1
        '08016700' +
        '017500', // SIGNATURE: code 8 (struct aligned to 8), signature 'g', value 'u'
      'hex',
    );
    const header = Buffer.from('42020001' + '00000004' + '00000002' + '0000000f', 'hex'); // 'B', return, body 4, serial 2, 15 bytes of fields
    expect(fields.length).toBe(15);
    const msg = Buffer.concat([header, fields, Buffer.alloc(1) /* the body starts 8-aligned */, Buffer.from('0a0b0c0d', 'hex')]);
    const m = decodeMessage(msg);
    expect(m).toMatchObject({ type: MessageType.MethodReturn, serial: 2, replySerial: 1, signature: 'u', body: [0x0a0b0c0d] });
  });

  it('refuses a message whose body does not match its signature', () => {
    expect(() => encodeMessage({ ...call, body: ['only one'] })).toThrow('has 4 values');
    const bytes = encodeMessage({ ...call, signature: 's', body: ['x'] });
    expect(() => decodeMessage(Buffer.concat([bytes, Buffer.alloc(8)]))).toThrow('does not end where its header says');
  });
});
