// lib/dbus/connection.ts against a real message bus: a dbus-daemon of the test's own (Debian's
// dbus-daemon, the reference implementation), on a socket in a temporary directory. No mock: the
// daemon parses what we send and answers as it would any client.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DBusConnection, DBusError, parseAddress } from '../lib/dbus/connection';
import { Variant, type Message } from '../lib/dbus/marshal';
import { NsgroupsError } from '../lib/errors';
import { itIf } from './helpers/host';

const daemonPath = ['/usr/bin/dbus-daemon', '/bin/dbus-daemon'].find((p) => fs.existsSync(p));
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };

describe('addresses', () => {
  it('takes unix:path= and unix:abstract= (percent-escaped), skips the rest', () => {
    expect(parseAddress('unix:path=/run/user/1000/bus')).toEqual(['/run/user/1000/bus']);
    expect(parseAddress('unix:abstract=/tmp/dbus-x,guid=0123')).toEqual(['\0/tmp/dbus-x']);
    expect(parseAddress('tcp:host=x,port=1;unix:path=/a%20b')).toEqual(['/a b']);
    expect(parseAddress('disabled:')).toEqual([]);
  });

  it('fails typed on a socket that is not there', async () => {
    const err = await DBusConnection.open('unix:path=/nonexistent/nsgroups/bus', { bus: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ code: 'ERR_NOT_FOUND', syscall: 'connect', path: '/nonexistent/nsgroups/bus' });
    await expect(DBusConnection.open('tcp:host=localhost,port=1', { bus: true })).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
  });
});

describe('a real dbus-daemon', () => {
  let dir: string;
  let daemon: ChildProcess | null = null;
  let address = '';

  beforeAll(async () => {
    if (!daemonPath) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-dbus-'));
    address = `unix:path=${dir}/bus`;
    daemon = spawn(daemonPath, ['--session', '--nofork', '--nopidfile', `--address=${address}`, '--print-address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      daemon!.stdout!.once('data', () => resolve());
      daemon!.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
    });
  });

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon!.once('exit', r));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const on = (name: string, fn: () => Promise<void>) => itIf(!!daemonPath, 'no dbus-daemon (apt-get install dbus-daemon)', name, fn);

  on('authenticates as this uid and gets a unique name from Hello', async () => {
    const c = await DBusConnection.open(address, { bus: true });
    try {
      expect(c.uniqueName).toMatch(/^:1\.\d+$/);
      // the daemon's own view of us, from SO_PEERCRED: an a{sv} of variants
      const reply = await c.call({ ...BUS, member: 'GetConnectionCredentials', signature: 's', body: [c.uniqueName] });
      const creds = reply.body[0] as Map<string, Variant>;
      expect(creds.get('UnixUserID')).toEqual(new Variant('u', process.geteuid!()));
      expect(creds.get('ProcessID')).toEqual(new Variant('u', process.pid));
    } finally {
      c.close();
    }
  });

  on('matches replies to calls, several at once', async () => {
    const c = await DBusConnection.open(address, { bus: true });
    try {
      const [id, names, has] = await Promise.all([
        c.call({ ...BUS, member: 'GetId' }),
        c.call({ ...BUS, member: 'ListNames' }),
        c.call({ ...BUS, member: 'NameHasOwner', signature: 's', body: ['org.nsgroups.Nobody'] }),
      ]);
      expect(id.body[0]).toMatch(/^[0-9a-f]{32}$/);
      expect(names.body[0]).toEqual(expect.arrayContaining(['org.freedesktop.DBus', c.uniqueName]));
      expect(has.body).toEqual([false]);
    } finally {
      c.close();
    }
  });

  on('turns an error reply into a DBusError with its name', async () => {
    const c = await DBusConnection.open(address, { bus: true });
    try {
      const err = await c.call({ ...BUS, member: 'NoSuchMethod' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DBusError);
      expect((err as DBusError).dbusName).toBe('org.freedesktop.DBus.Error.UnknownMethod');
    } finally {
      c.close();
    }
  });

  on('delivers the signals a match rule asks for', async () => {
    const watcher = await DBusConnection.open(address, { bus: true });
    const other = await DBusConnection.open(address, { bus: true });
    try {
      await watcher.call({ ...BUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='NameOwnerChanged',arg0='org.nsgroups.Test'"] });
      const seen = new Promise<Message>((resolve) => watcher.on('signal', (m: Message) => m.member === 'NameOwnerChanged' && resolve(m)));
      const reply = await other.call({ ...BUS, member: 'RequestName', signature: 'su', body: ['org.nsgroups.Test', 0] });
      expect(reply.body).toEqual([1]); // DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
      const m = await seen;
      expect(m.body).toEqual(['org.nsgroups.Test', '', other.uniqueName]);
    } finally {
      watcher.close();
      other.close();
    }
  });

  on('rejects what is pending when the connection ends, and calls after it', async () => {
    const c = await DBusConnection.open(address, { bus: true });
    c.close();
    await expect(c.call({ ...BUS, member: 'GetId' })).rejects.toThrow('closed');
  });
});
