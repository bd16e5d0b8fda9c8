// uid_map / gid_map of a new user namespace, written by the parent while the child waits
// (user_namespaces(7)): an unprivileged writer may map only its own ids, one line each, and
// must deny setgroups before it writes gid_map.
import * as fs from 'node:fs';
import { fromNodeError } from '../errors';

export interface IdMaps {
  uidMap: string;
  gidMap: string;
  /** 'deny' is required before an unprivileged gid_map; root may keep setgroups allowed */
  setgroups: 'allow' | 'deny';
}

/** The caller's own uid/gid mapped to the identity inside. */
export function callerIdMaps(uidInside: number, gidInside: number): IdMaps {
  const privileged = process.geteuid!() === 0;
  return {
    uidMap: `${uidInside} ${process.geteuid!()} 1\n`,
    gidMap: `${gidInside} ${process.getegid!()} 1\n`,
    setgroups: privileged ? 'allow' : 'deny',
  };
}

/** Writes the maps of the user namespace `pid` lives in; throws NsgroupsError (step uid_map). */
export function writeIdMaps(pid: number, maps: IdMaps): void {
  const write = (file: string, data: string, what: string): void => {
    const target = `/proc/${pid}/${file}`;
    try {
      fs.writeFileSync(target, data);
    } catch (err) {
      throw fromNodeError(err, `${what} of the sandbox's user namespace`, {
        path: target,
        step: file === 'gid_map' ? 'gid_map' : 'uid_map',
        hint: "only root may map ids other than the caller's own",
      });
    }
  };
  if (maps.setgroups === 'deny') write('setgroups', 'deny', 'denying setgroups');
  write('uid_map', maps.uidMap, 'writing uid_map');
  write('gid_map', maps.gidMap, 'writing gid_map');
}
