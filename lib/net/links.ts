// NetworkLinks: the links and addresses of one network namespace, over rtnetlink (netlink.cc):
// veth pairs (one end may go to another namespace), bridges, link state, IP addresses.
//
// Each call opens a NETLINK_ROUTE socket *inside* the target namespace: netlink.cc creates it
// on a dedicated short-lived thread that setns()es into the namespace and exits, so neither the
// JS thread nor libuv's pool ever changes namespace (a socket keeps the namespace it was made
// in). IFLA_NET_NS_FD alone would not do: it can place a link in another namespace, but
// addresses (RTM_NEWADDR) can only be set through a socket in the link's own namespace.
// Requests are synchronous netlink round trips (microseconds; no I/O is waited for).
// Privilege: joining another network namespace needs CAP_SYS_ADMIN over it and in the caller's
// user namespace (setns(2)), so this is for root; a rootless sandbox can still bring its own
// loopback up (spawn's network: 'loopback').
import type { NativeError, NativeLink } from '../../types/native';
import { invalidArg, NsgroupsError, systemError } from '../errors';
import { native } from '../native';
import { closeQuietly } from '../namespace/fd';
import { Namespace } from '../namespace/namespace';
import { checkBoolean, checkInteger, checkKeys, checkObject, checkString } from '../util/validate';
import { formatAddress, formatMac, parseCidr } from './address';

const IFF_UP = 0x1;
const IFF_LOWER_UP = 0x10000;
const AF_INET = 2;
const AF_INET6 = 10;
const SCOPES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

/** One network link (interface) of a namespace, as rtnetlink reports it. */
export interface LinkInfo {
  /** the interface index (ifindex), unique in its namespace */
  index: number;
  /** the interface name, e.g. 'eth0' (1-15 bytes) */
  name: string;
  /** 'veth', 'bridge', …; null for a device without rtnl link ops (lo, physical NICs) */
  kind: string | null;
  /** administratively up (IFF_UP) */
  up: boolean;
  /** carrier on (IFF_LOWER_UP): for a veth, both ends are up */
  lowerUp: boolean;
  /** the MTU in bytes; null when the kernel did not report one */
  mtu: number | null;
  /** the link-layer address, 'aa:bb:cc:dd:ee:ff'; null for a link without one */
  mac: string | null;
  /** the bridge it is attached to */
  master: string | null;
  /** IFF_* flags as the kernel reports them */
  flags: number;
}

/** One IP address of a namespace, as rtnetlink reports it. */
export interface AddressInfo {
  /** the name of the link it is on */
  link: string;
  /** 4 for IPv4, 6 for IPv6 */
  family: 4 | 6;
  /** the address alone, e.g. '10.200.0.1' or 'fe80::1' */
  address: string;
  /** the prefix length in bits, e.g. 30 */
  prefixLength: number;
  /** '10.200.0.1/30' */
  cidr: string;
  /** 'global', 'site', 'link', 'host' or 'nowhere' (or the number, for another scope) */
  scope: string;
}

/** links.addVeth()'s options. */
export interface VethOptions {
  /** the name of the other end */
  peer: string;
  /** where the other end goes (a net Namespace: a sandbox's, a pinned or created one); default: beside the first */
  peerNamespace?: Namespace;
}

/** links.set()'s change: what to change of a link; a key left out stays as it is. */
export interface LinkChange {
  /** bring it up (true) or down (false) */
  up?: boolean;
  /** the MTU in bytes, 68..65535 */
  mtu?: number;
  /** attach to this bridge (in the same namespace), or detach with null */
  master?: string | null;
  /** move the link to another network namespace */
  namespace?: Namespace;
}

/** A link name as the kernel accepts it (dev_valid_name): 1-15 bytes, no '/', ':' or whitespace. */
function checkLinkName(value: unknown, what: string): string {
  const name = checkString(value, what, { maxLength: 15 });
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw invalidArg(`${what} ${JSON.stringify(name)} is not a valid link name: no '/', ':' or whitespace, and not '.' or '..'`);
  }
  return name;
}

function checkNetNamespace(value: unknown, what: string): Namespace {
  if (!(value instanceof Namespace)) throw invalidArg(`${what} must be a Namespace (Namespace.of, open or create), got ${typeof value}`);
  if (value.type !== 'net') throw invalidArg(`${what} must be a network namespace, got a ${value.type} namespace`);
  return value;
}

function hintFor(e: NativeError): string | undefined {
  if (e.syscall === 'setns' && (e.errno === -1 || e.errno === -13)) {
    return "configuring another network namespace needs CAP_SYS_ADMIN over it and in the caller's user namespace (root)";
  }
  if (e.errno === -1) return 'changing links needs CAP_NET_ADMIN in the namespace (root)';
  if (e.errno === -95) return 'the kernel lacks this link type (is its module loaded? e.g. modprobe veth, bridge)';
  return undefined;
}

/**
 * The links and addresses of one network namespace, over rtnetlink: veth pairs (one end may go to
 * another namespace), bridges, link state, IP addresses. Configuring another namespace needs root.
 * @example
 * const ns = await Namespace.create('net', { pin: '/run/nsgroups/net/blue' });
 * const host = new NetworkLinks(await Namespace.of('net'));
 * await host.addVeth('veth-blue', { peer: 'eth0', peerNamespace: ns });
 * await host.addAddress('veth-blue', '10.200.0.1/30');
 * await host.up('veth-blue');
 */
export class NetworkLinks {
  /** the network namespace these links are in */
  readonly namespace: Namespace;

  /**
   * The links of the network namespace `namespace`. Nothing is opened until a method runs.
   * @throws NsgroupsError ERR_INVALID_ARG when `namespace` is not a net Namespace
   * @example
   * const links = new NetworkLinks(await Namespace.open('/run/nsgroups/net/blue'));
   */
  constructor(namespace: Namespace) {
    this.namespace = checkNetNamespace(namespace, 'namespace');
  }

  /**
   * Every link in the namespace.
   * @throws NsgroupsError ERR_NOT_FOUND when the namespace is gone; ERR_PERMISSION without CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another one: root)
   * @example
   * for (const l of await links.list()) console.log(l.name, l.up, l.mtu);
   */
  async list(): Promise<LinkInfo[]> {
    return this.#run('listing links', (sock) => {
      const links = native().netlinkGetLinks(sock);
      const names = new Map(links.map((l) => [l.index, l.name]));
      return links.map((l) => toLinkInfo(l, names));
    });
  }

  /**
   * One link by name.
   * @throws NsgroupsError ERR_NOT_FOUND if there is none; ERR_INVALID_ARG for a bad name
   * @example
   * const lo = await links.get('lo');
   */
  async get(name: string): Promise<LinkInfo> {
    checkLinkName(name, 'link name');
    return (await this.list()).find((l) => l.name === name) ?? this.#notFound(name);
  }

  /**
   * The addresses in the namespace, or on one link.
   * @throws NsgroupsError ERR_NOT_FOUND when there is no link `name`; ERR_INVALID_ARG for a bad name
   * @example
   * const v4 = (await links.addresses('eth0')).filter((a) => a.family === 4);
   */
  async addresses(name?: string): Promise<AddressInfo[]> {
    if (name !== undefined) checkLinkName(name, 'link name');
    return this.#run('listing addresses', (sock) => {
      const names = new Map(
        native()
          .netlinkGetLinks(sock)
          .map((l) => [l.index, l.name]),
      );
      if (name !== undefined && ![...names.values()].includes(name)) this.#notFound(name);
      return native()
        .netlinkGetAddrs(sock)
        .map((a) => {
          const address = formatAddress(a.address);
          return {
            link: names.get(a.index) ?? String(a.index),
            family: a.family === AF_INET6 ? 6 : 4,
            address,
            prefixLength: a.prefixLen,
            cidr: `${address}/${a.prefixLen}`,
            scope: SCOPES[a.scope] ?? String(a.scope),
          } satisfies AddressInfo;
        })
        .filter((a) => name === undefined || a.link === name);
    });
  }

  /**
   * Creates a veth pair: `name` here, `options.peer` in options.peerNamespace (default: here too). Both start down.
   * @throws NsgroupsError ERR_INVALID_ARG for bad names (1-15 bytes, no '/', ':' or whitespace) or
   * the same name twice in one namespace; ERR_PERMISSION without CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another one: root); ERR_UNSUPPORTED without the veth driver
   * @example
   * await links.addVeth('veth0', { peer: 'eth0', peerNamespace: sandboxNet });
   */
  async addVeth(name: string, options: VethOptions): Promise<void> {
    checkLinkName(name, 'link name');
    const o = checkObject(options, 'veth options');
    checkKeys(o, ['peer', 'peerNamespace'], 'veth options');
    const peer = checkLinkName(o.peer, 'veth options.peer');
    const peerNs = o.peerNamespace === undefined ? undefined : checkNetNamespace(o.peerNamespace, 'veth options.peerNamespace');
    if (peer === name && (peerNs === undefined || peerNs.equals(this.namespace))) {
      throw invalidArg(`a veth pair needs two names when both ends are in the same namespace; both are '${name}'`);
    }
    const peerFd = peerNs ? peerNs.openFd() : -1;
    try {
      this.#run(`creating veth pair ${name}/${peer}`, (sock) =>
        native().netlinkNewLink(sock, { name, kind: 'veth', peer, ...(peerFd >= 0 ? { peerNsFd: peerFd } : {}) }),
      );
    } finally {
      if (peerFd >= 0) closeQuietly(peerFd);
    }
  }

  /**
   * Creates a bridge (down, no ports).
   * @throws NsgroupsError ERR_INVALID_ARG for a bad name; ERR_PERMISSION without CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another one: root); ERR_UNSUPPORTED without the bridge driver
   * @example
   * await links.addBridge('br0');
   * await links.set('veth0', { master: 'br0' });
   */
  async addBridge(name: string): Promise<void> {
    checkLinkName(name, 'link name');
    this.#run(`creating bridge ${name}`, (sock) => native().netlinkNewLink(sock, { name, kind: 'bridge' }));
  }

  /**
   * Changes a link: up/down, mtu, bridge (master), or namespace.
   * @throws NsgroupsError ERR_INVALID_ARG for a bad change; ERR_NOT_FOUND when the link or the
   * bridge does not exist; ERR_PERMISSION without CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another one: root)
   * @example
   * await links.set('veth0', { up: true, mtu: 1400 });
   */
  async set(name: string, change: LinkChange): Promise<void> {
    checkLinkName(name, 'link name');
    const c = checkObject(change, 'link change');
    checkKeys(c, ['up', 'mtu', 'master', 'namespace'], 'link change');
    const up = c.up === undefined ? undefined : checkBoolean(c.up, 'link change.up');
    const mtu = c.mtu === undefined ? undefined : checkInteger(c.mtu, 'link change.mtu', 68, 65535);
    const master = c.master === undefined || c.master === null ? c.master : checkLinkName(c.master, 'link change.master');
    const target = c.namespace === undefined ? undefined : checkNetNamespace(c.namespace, 'link change.namespace');
    const nsFd = target ? target.openFd() : -1;
    try {
      this.#run(`changing link ${name}`, (sock) => {
        const links = native().netlinkGetLinks(sock);
        const index = this.#indexIn(links, name);
        const masterIndex = master === undefined ? undefined : master === null ? 0 : this.#indexIn(links, master);
        native().netlinkSetLink(sock, index, {
          ...(up === undefined ? {} : { up }),
          ...(mtu === undefined ? {} : { mtu }),
          ...(masterIndex === undefined ? {} : { master: masterIndex }),
          ...(nsFd >= 0 ? { nsFd } : {}),
        });
      });
    } finally {
      if (nsFd >= 0) closeQuietly(nsFd);
    }
  }

  /**
   * Brings a link up: set(name, { up: true }).
   * @throws NsgroupsError as set()
   * @example
   * await links.up('lo');
   */
  async up(name: string): Promise<void> {
    return this.set(name, { up: true });
  }

  /**
   * Takes a link down: set(name, { up: false }).
   * @throws NsgroupsError as set()
   * @example
   * await links.down('veth0');
   */
  async down(name: string): Promise<void> {
    return this.set(name, { up: false });
  }

  /**
   * Adds an address: '10.200.0.1/30' (the prefix gives the connected route) or IPv6.
   * @throws NsgroupsError ERR_INVALID_ARG for a bad address; ERR_NOT_FOUND when there is no such link; ERR_PERMISSION without CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another one: root)
   * @example
   * await links.addAddress('eth0', 'fd00::2/64');
   */
  async addAddress(name: string, cidr: string): Promise<void> {
    return this.#address(true, name, cidr);
  }

  /**
   * Removes an address from a link, given as it was added ('10.200.0.1/30').
   * @throws NsgroupsError ERR_INVALID_ARG for a bad address; ERR_NOT_FOUND when there is no such link; ERR_PERMISSION without CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another one: root)
   * @example
   * await links.removeAddress('eth0', '10.200.0.2/30');
   */
  async removeAddress(name: string, cidr: string): Promise<void> {
    return this.#address(false, name, cidr);
  }

  /**
   * Deletes a link (for a veth, both ends go).
   * @throws NsgroupsError ERR_NOT_FOUND when there is no such link; ERR_PERMISSION without CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another one: root)
   * @example
   * await links.delete('veth0');
   */
  async delete(name: string): Promise<void> {
    checkLinkName(name, 'link name');
    this.#run(`deleting link ${name}`, (sock) => native().netlinkDelLink(sock, this.#indexIn(native().netlinkGetLinks(sock), name)));
  }

  #address(add: boolean, name: string, cidr: string): void {
    checkLinkName(name, 'link name');
    const parsed = parseCidr(checkString(cidr, 'address'), 'address');
    this.#run(`${add ? 'adding' : 'removing'} address ${cidr} ${add ? 'to' : 'from'} ${name}`, (sock) => {
      const index = this.#indexIn(native().netlinkGetLinks(sock), name);
      native().netlinkAddr(sock, add, {
        index,
        family: parsed.family === 4 ? AF_INET : AF_INET6,
        address: parsed.bytes,
        prefixLen: parsed.prefixLength,
      });
    });
  }

  #indexIn(links: NativeLink[], name: string): number {
    return links.find((l) => l.name === name)?.index ?? this.#notFound(name);
  }

  #notFound(name: string): never {
    throw new NsgroupsError('ERR_NOT_FOUND', `no link named '${name}' in network namespace ${this.namespace}`);
  }

  /** Runs `fn` with a netlink socket in this namespace; errors become NsgroupsErrors. */
  #run<T>(what: string, fn: (sock: number) => T): T {
    const nsFd = this.namespace.openFd();
    let sock: number;
    try {
      sock = native().netlinkOpen(nsFd);
    } catch (err) {
      throw toError(err, what, this.namespace);
    } finally {
      closeQuietly(nsFd);
    }
    try {
      return fn(sock);
    } catch (err) {
      throw toError(err, what, this.namespace);
    } finally {
      closeQuietly(sock);
    }
  }
}

function toError(err: unknown, what: string, ns: Namespace): NsgroupsError {
  if (err instanceof NsgroupsError) return err;
  const e = err as NativeError & { extack?: string };
  if (typeof e.errno !== 'number') return new NsgroupsError('ERR_SYSTEM', `${what} in ${ns} failed: ${e.message}`, { cause: err });
  // the kernel's extended ack (NETLINK_EXT_ACK) says what it refused: keep it in the message
  const hint = [e.extack && `the kernel says: ${e.extack}`, hintFor(e)].filter(Boolean).join('; ') || undefined;
  return systemError(e.errno, e.syscall, `${what} in network namespace ${ns}`, { hint, cause: err });
}

function toLinkInfo(l: NativeLink, names: Map<number, string>): LinkInfo {
  return {
    index: l.index,
    name: l.name,
    kind: l.kind ?? null,
    up: (l.flags & IFF_UP) !== 0,
    lowerUp: (l.flags & IFF_LOWER_UP) !== 0,
    mtu: l.mtu ?? null,
    mac: l.mac && l.mac.length > 0 ? formatMac(l.mac) : null,
    master: l.master ? (names.get(l.master) ?? String(l.master)) : null,
    flags: l.flags,
  };
}
