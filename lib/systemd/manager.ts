// A systemd service manager over D-Bus (org.freedesktop.systemd1(5)): where it listens, and the
// few Manager methods the systemd cgroup driver needs — StartTransientUnit (waiting for its job
// through the JobRemoved signal), AttachProcessesToUnit, StopUnit, and unit state.
//   user manager    $XDG_RUNTIME_DIR/systemd/private (its own socket, peer to peer), else the
//                   user bus ($DBUS_SESSION_BUS_ADDRESS, $XDG_RUNTIME_DIR/bus): the order systemctl --user uses
//   system manager  /run/systemd/private (root only), else the system bus
import * as fs from 'node:fs';
import { NsgroupsError } from '../errors';
import { DBusConnection, DBusError } from '../dbus/connection';
import { Variant, type Message } from '../dbus/marshal';

/** Which systemd manager: the caller's own 'user' manager, or the 'system' one (for root). */
export type ManagerKind = 'user' | 'system';

export interface ManagerEndpoint {
  kind: ManagerKind;
  address: string;
  /** a message bus (Hello, destination names) rather than systemd's own socket */
  bus: boolean;
  /** where the address came from, for messages */
  via: string;
}

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
export const JOB_TIMEOUT_MS = 60000;

/** systemd is this host's init (sd_booted(3): the directory exists only then). */
export function systemdBooted(exists: (p: string) => boolean = fs.existsSync): boolean {
  return exists('/run/systemd/system');
}

function isSocket(path: string): boolean {
  try {
    return fs.statSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * The addresses a manager of this kind may listen on for this caller, best first; only those
 * whose socket exists (an abstract or non-unix bus address is kept as given).
 */
export function managerEndpoints(
  kind: ManagerKind,
  env: NodeJS.ProcessEnv = process.env,
  uid: number = process.geteuid!(),
  socketExists: (path: string) => boolean = isSocket,
): ManagerEndpoint[] {
  const out: ManagerEndpoint[] = [];
  const add = (address: string, bus: boolean, via: string) => {
    const path = /^unix:path=([^,;]+)$/.exec(address)?.[1];
    if (path !== undefined && !socketExists(path)) return;
    if (!out.some((e) => e.address === address)) out.push({ kind, address, bus, via });
  };
  if (kind === 'user') {
    const runtime = env.XDG_RUNTIME_DIR || `/run/user/${uid}`;
    add(`unix:path=${runtime}/systemd/private`, false, "systemd --user's own socket");
    if (env.DBUS_SESSION_BUS_ADDRESS) add(env.DBUS_SESSION_BUS_ADDRESS, true, 'DBUS_SESSION_BUS_ADDRESS');
    add(`unix:path=${runtime}/bus`, true, 'the user bus');
  } else {
    if (uid === 0) add('unix:path=/run/systemd/private', false, "systemd's own socket");
    add(env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/run/dbus/system_bus_socket', true, 'the system bus');
  }
  return out;
}

/** What a D-Bus error or job result means for the caller. */
function managerError(err: unknown, what: string): NsgroupsError {
  if (err instanceof NsgroupsError) return err;
  if (err instanceof DBusError) {
    const code = /AccessDenied|InteractiveAuthorizationRequired|NotAuthorized/.test(err.dbusName)
      ? 'ERR_PERMISSION'
      : /UnitExists/.test(err.dbusName)
        ? 'ERR_BUSY'
        : /NoSuchUnit|LoadFailed/.test(err.dbusName)
          ? 'ERR_NOT_FOUND'
          : /InvalidArgs|PropertyReadOnly|UnknownProperty/.test(err.dbusName)
            ? 'ERR_INVALID_ARG'
            : 'ERR_SYSTEM';
    return new NsgroupsError(code, `${what}: systemd answered ${err.dbusName}: ${err.message}`, { syscall: 'dbus', cause: err });
  }
  return new NsgroupsError('ERR_SYSTEM', `${what}: ${String(err)}`, { cause: err });
}

export class SystemdManager {
  #jobs = new Map<string, string>(); // job path → result, for jobs that ended
  #waiters = new Map<string, (result: string) => void>();
  #subscribed = false;

  private constructor(
    readonly conn: DBusConnection,
    readonly endpoint: ManagerEndpoint,
    /** the manager's Version property ('252.38-1~deb12u1') */
    readonly version: string,
  ) {
    conn.on('signal', (m: Message) => {
      if (m.interface !== MANAGER || m.member !== 'JobRemoved') return;
      const [, job, , result] = m.body as [number, string, string, string];
      const waiter = this.#waiters.get(job);
      if (waiter) waiter(result);
      else this.#jobs.set(job, result);
    });
  }

  /** Connects to the first endpoint that answers as systemd; ERR_UNSUPPORTED with every reason if none does. */
  static async connect(kind: ManagerKind, timeoutMs = 10000, endpoints = managerEndpoints(kind)): Promise<SystemdManager> {
    const reasons: string[] = [];
    for (const ep of endpoints) {
      let conn: DBusConnection | null = null;
      try {
        conn = await DBusConnection.open(ep.address, { bus: ep.bus, timeoutMs });
        const reply = await conn.call({
          destination: ep.bus ? SYSTEMD : undefined,
          path: MANAGER_PATH,
          interface: PROPERTIES,
          member: 'Get',
          signature: 'ss',
          body: [MANAGER, 'Version'],
          timeoutMs,
        });
        const v = reply.body[0];
        return new SystemdManager(conn, ep, v instanceof Variant ? String(v.value) : String(v));
      } catch (err) {
        conn?.close();
        reasons.push(`${ep.address} (${ep.via}): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const none = endpoints.length === 0 ? `no socket of the ${kind} manager exists for uid ${process.geteuid!()}` : reasons.join('; ');
    throw new NsgroupsError('ERR_UNSUPPORTED', `no systemd ${kind} manager is reachable: ${none}`);
  }

  close(): void {
    this.conn.close();
  }

  #call(member: string, signature: string, body: unknown[], path = MANAGER_PATH, iface = MANAGER, timeoutMs = 25000): Promise<Message> {
    return this.conn.call({ destination: this.endpoint.bus ? SYSTEMD : undefined, path, interface: iface, member, signature, body, timeoutMs });
  }

  /** JobRemoved reaches a bus client only after Subscribe() and a match rule (systemd sends it to direct connections anyway). */
  async #subscribe(): Promise<void> {
    if (this.#subscribed) return;
    if (this.endpoint.bus) {
      await this.conn.call({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'AddMatch',
        signature: 's',
        body: [`type='signal',sender='${SYSTEMD}',path='${MANAGER_PATH}',interface='${MANAGER}',member='JobRemoved'`],
      });
    }
    await this.#call('Subscribe', '', []);
    this.#subscribed = true;
  }

  #jobResult(job: string, timeoutMs: number, what: string): Promise<string> {
    const done = this.#jobs.get(job);
    if (done !== undefined) {
      this.#jobs.delete(job);
      return Promise.resolve(done);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(job);
        reject(new NsgroupsError('ERR_SYSTEM', `${what}: systemd's job ${job} did not finish within ${timeoutMs} ms`, { errno: -110, syscall: 'dbus' }));
      }, timeoutMs);
      this.#waiters.set(job, (result) => {
        clearTimeout(timer);
        this.#waiters.delete(job);
        resolve(result);
      });
    });
  }

  /**
   * StartTransientUnit(name, 'fail', properties, []) and the job's end: resolves when the unit
   * is started ('done'), else ERR_SYSTEM naming the job result.
   */
  async startTransientUnit(name: string, properties: Array<[string, Variant]>, timeoutMs = JOB_TIMEOUT_MS): Promise<void> {
    const what = `starting the transient unit ${name} (${this.endpoint.kind} manager)`;
    let job: string;
    try {
      await this.#subscribe();
      const reply = await this.#call('StartTransientUnit', 'ssa(sv)a(sa(sv))', [name, 'fail', properties, []]);
      job = String(reply.body[0]);
    } catch (err) {
      throw managerError(err, what);
    }
    const result = await this.#jobResult(job, timeoutMs, what);
    if (result !== 'done') {
      throw new NsgroupsError(
        'ERR_SYSTEM',
        `${what}: the job ended '${result}' (journalctl${this.endpoint.kind === 'user' ? ' --user' : ''} -u ${name} says why)`,
        {
          syscall: 'dbus',
        },
      );
    }
  }

  /** StopUnit(name, 'replace') and the job's end; a unit that is gone already is fine. */
  async stopUnit(name: string, timeoutMs = JOB_TIMEOUT_MS): Promise<void> {
    const what = `stopping ${name}`;
    let job: string;
    try {
      await this.#subscribe();
      job = String((await this.#call('StopUnit', 'ss', [name, 'replace'])).body[0]);
    } catch (err) {
      if (err instanceof DBusError && /NoSuchUnit/.test(err.dbusName)) return;
      throw managerError(err, what);
    }
    await this.#jobResult(job, timeoutMs, what);
  }

  /**
   * AttachProcessesToUnit(unit, subcgroup, pids): the manager moves processes into the unit's
   * delegated subtree, which the caller itself may not (the common-ancestor rule); a user
   * manager asks the system manager in turn when the process sits outside its own tree.
   */
  async attachProcesses(unit: string, subcgroup: string, pids: number[]): Promise<void> {
    try {
      await this.#call('AttachProcessesToUnit', 'ssau', [unit, subcgroup, pids]);
    } catch (err) {
      throw managerError(err, `asking systemd to move pid ${pids.join(', ')} into ${unit}${subcgroup}`);
    }
  }

  /** The unit's ActiveState ('active', 'inactive', …), or null when the manager has no such unit. */
  async activeState(name: string): Promise<string | null> {
    try {
      const path = String((await this.#call('GetUnit', 's', [name])).body[0]);
      const v = (await this.#call('Get', 'ss', ['org.freedesktop.systemd1.Unit', 'ActiveState'], path, PROPERTIES)).body[0];
      return v instanceof Variant ? String(v.value) : String(v);
    } catch (err) {
      if (err instanceof DBusError && /NoSuchUnit/.test(err.dbusName)) return null;
      throw managerError(err, `asking systemd about ${name}`);
    }
  }
}
