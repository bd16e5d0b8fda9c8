// One D-Bus connection over a unix socket: the address forms a client needs ("Server
// Addresses": unix:path=, unix:abstract=), the EXTERNAL authentication ("Authentication
// Protocol": the server reads our uid from the socket, SO_PEERCRED), then method calls matched
// to their replies by serial, and signals as events. `bus: true` says the peer is a message bus
// (dbus-daemon, dbus-broker), which wants Hello first; systemd's own sockets
// (/run/systemd/private, $XDG_RUNTIME_DIR/systemd/private) are peer-to-peer and want none.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { NsgroupsError } from '../errors';
import { decodeMessage, encodeMessage, FLAG_NO_REPLY_EXPECTED, messageLength, MessageType, type Message } from './marshal';

export const DEFAULT_CALL_TIMEOUT_MS = 25000; // libdbus's and sd-bus's default

/** An error reply: `name` is the D-Bus error name (org.freedesktop.systemd1.NoSuchUnit …). */
export class DBusError extends Error {
  constructor(
    readonly dbusName: string,
    message: string,
  ) {
    super(message);
    this.name = 'DBusError';
  }
}

/** The unix socket paths an address names, in order (tcp:, unixexec: … are not for us). */
export function parseAddress(address: string): string[] {
  const out: string[] = [];
  for (const part of address.split(';')) {
    const colon = part.indexOf(':');
    if (colon < 0 || part.slice(0, colon) !== 'unix') continue;
    const kv = new Map<string, string>();
    for (const pair of part.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) kv.set(pair.slice(0, eq), unescapeValue(pair.slice(eq + 1)));
    }
    if (kv.has('path')) out.push(kv.get('path')!);
    else if (kv.has('abstract')) out.push(`\0${kv.get('abstract')!}`); // Linux abstract namespace
  }
  return out;
}

function unescapeValue(v: string): string {
  return v.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export interface CallOptions {
  destination?: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
  timeoutMs?: number;
}

interface Pending {
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class DBusConnection extends EventEmitter {
  #socket: net.Socket;
  #serial = 0;
  #pending = new Map<number, Pending>();
  #inbox: Buffer = Buffer.alloc(0);
  #closed: Error | null = null;
  /** the unique name the bus gave us (null on a peer-to-peer connection) */
  uniqueName: string | null = null;

  private constructor(
    socket: net.Socket,
    readonly address: string,
  ) {
    super();
    this.#socket = socket;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new NsgroupsError('ERR_SYSTEM', `D-Bus: ${address} closed the connection`)));
    socket.resume();
  }

  /** Connects, authenticates and (on a bus) says Hello. */
  static async open(address: string, options: { bus: boolean; timeoutMs?: number }): Promise<DBusConnection> {
    const paths = parseAddress(address);
    if (!paths.length)
      throw new NsgroupsError('ERR_UNSUPPORTED', `D-Bus address '${address}' names no unix socket (only unix:path= and unix:abstract= are supported)`);
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    let last: unknown;
    for (const p of paths) {
      let socket: net.Socket | null = null;
      try {
        socket = await connectSocket(p, timeoutMs);
        await authenticate(socket, timeoutMs);
        const conn = new DBusConnection(socket, address);
        if (options.bus) {
          const reply = await conn.call({
            destination: 'org.freedesktop.DBus',
            path: '/org/freedesktop/DBus',
            interface: 'org.freedesktop.DBus',
            member: 'Hello',
            timeoutMs,
          });
          conn.uniqueName = String(reply.body[0]);
        }
        return conn;
      } catch (err) {
        socket?.destroy();
        last = err;
      }
    }
    throw last;
  }

  /** A method call; resolves with the reply, rejects with DBusError for an error reply. */
  call(o: CallOptions): Promise<Message> {
    if (this.#closed) return Promise.reject(this.#closed);
    const serial = ++this.#serial;
    const message: Message = {
      type: MessageType.MethodCall,
      flags: 0,
      serial,
      path: o.path,
      interface: o.interface,
      member: o.member,
      destination: o.destination,
      signature: o.signature ?? '',
      body: o.body ?? [],
    };
    const bytes = encodeMessage(message); // throws before anything is sent on a bad value
    return new Promise<Message>((resolve, reject) => {
      const ms = o.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        reject(
          new NsgroupsError('ERR_SYSTEM', `D-Bus: no reply to ${o.interface}.${o.member} from ${this.address} within ${ms} ms`, {
            errno: -110,
            syscall: 'dbus',
          }),
        );
      }, ms);
      this.#pending.set(serial, { resolve, reject, timer });
      this.#socket.write(bytes);
    });
  }

  close(): void {
    if (!this.#closed) this.#fail(new NsgroupsError('ERR_SYSTEM', 'D-Bus: the connection was closed'));
    this.#socket.destroy();
  }

  /** Lets the event loop exit while this connection is open (and idle). */
  unref(): this {
    this.#socket.unref();
    return this;
  }

  ref(): this {
    this.#socket.ref();
    return this;
  }

  #onData(d: Buffer): void {
    this.#inbox = this.#inbox.length ? Buffer.concat([this.#inbox, d]) : d;
    try {
      for (;;) {
        const length = messageLength(this.#inbox);
        if (length === null || this.#inbox.length < length) return;
        const m = decodeMessage(this.#inbox.subarray(0, length));
        this.#inbox = this.#inbox.subarray(length);
        this.#dispatch(m);
      }
    } catch (err) {
      // a message we cannot parse: the stream is lost
      this.#fail(err as Error);
      this.#socket.destroy();
    }
  }

  #dispatch(m: Message): void {
    if (m.type === MessageType.MethodReturn || m.type === MessageType.Error) {
      const p = m.replySerial === undefined ? undefined : this.#pending.get(m.replySerial);
      if (!p) return;
      this.#pending.delete(m.replySerial!);
      clearTimeout(p.timer);
      if (m.type === MessageType.MethodReturn) p.resolve(m);
      else p.reject(new DBusError(m.errorName ?? 'org.freedesktop.DBus.Error.Failed', typeof m.body[0] === 'string' ? m.body[0] : (m.errorName ?? 'error')));
    } else if (m.type === MessageType.Signal) {
      this.emit('signal', m);
    } else if (m.type === MessageType.MethodCall && !(m.flags & FLAG_NO_REPLY_EXPECTED)) {
      // we export no objects: say so, as the specification asks of every peer
      const reply: Message = {
        type: MessageType.Error,
        flags: FLAG_NO_REPLY_EXPECTED,
        serial: ++this.#serial,
        replySerial: m.serial,
        destination: m.sender,
        errorName: 'org.freedesktop.DBus.Error.UnknownMethod',
        signature: 's',
        body: [`nsgroups exports no ${m.interface ?? ''}.${m.member ?? ''}`],
      };
      this.#socket.write(encodeMessage(reply));
    }
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    this.emit('close', err);
  }
}

function connectSocket(path: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NsgroupsError('ERR_SYSTEM', `D-Bus: connecting to ${printable(path)} took longer than ${timeoutMs} ms`, { errno: -110, syscall: 'connect' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new NsgroupsError(
          e.code === 'EACCES' || e.code === 'EPERM' ? 'ERR_PERMISSION' : e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'ERR_NOT_FOUND' : 'ERR_SYSTEM',
          `D-Bus: cannot connect to ${printable(path)}: ${e.code ?? e.message}`,
          {
            errno: e.errno,
            syscall: 'connect',
            path: path.startsWith('\0') ? undefined : path,
            cause: e,
          },
        ),
      );
    });
  });
}

const printable = (p: string) => (p.startsWith('\0') ? `@${p.slice(1)}` : p);

/** AUTH EXTERNAL with our uid in hex of its decimal digits, then BEGIN. */
function authenticate(socket: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.pause(); // what comes after BEGIN waits for the connection's own reader
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => done(new NsgroupsError('ERR_SYSTEM', `D-Bus: no answer to AUTH within ${timeoutMs} ms`, { errno: -110, syscall: 'dbus' })),
      timeoutMs,
    );
    const onError = (e: Error) => done(e);
    const onClose = () => done(new NsgroupsError('ERR_PERMISSION', 'D-Bus: the server closed the connection during authentication'));
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n');
      if (end < 0) return;
      const line = text.slice(0, end);
      if (line.startsWith('OK ')) {
        socket.write('BEGIN\r\n');
        if (text.length > end + 2) return done(new NsgroupsError('ERR_SYSTEM', 'D-Bus: data before BEGIN'));
        return done();
      }
      done(new NsgroupsError('ERR_PERMISSION', `D-Bus: EXTERNAL authentication as uid ${process.geteuid!()} refused (${line.slice(0, 100)})`));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    const uid = Buffer.from(String(process.geteuid!()), 'ascii').toString('hex');
    socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
  });
}
