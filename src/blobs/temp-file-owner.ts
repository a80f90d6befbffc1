import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who wrote a temp file of the file blob store, so that a process starting up can tell the
 * leftovers of a crashed process (removed at once, whatever their age) from a put in progress
 * in a live process (kept): `<host>.<pid>.<instance>.<uuid>.<kind>`.
 *
 * Several processes use one blob root (`inferq serve` and its workers, hosts on a shared volume).
 * A file is an orphan only when its writer is known dead:
 * - written on another host: never judged here (that host's processes are not visible); the age
 *   rule (`tempMaxAgeMs`) removes it;
 * - same host, another pid: dead when the pid no longer exists (`kill(pid, 0)` fails with ESRCH).
 *   A pid reused since by a live process keeps the file until the age rule: the safe direction;
 * - same host, our own pid, another instance: an earlier run that had our pid (a container
 *   restarted gets the same pid) is dead, since two live processes cannot share a pid on a host.
 *
 * This relies on hosts that share a volume having distinct host names (the default for
 * containers and machines); names in the old form (a bare uuid) are left to the age rule.
 */
export interface TempOwner {
  host: string;
  pid: number;
  instance: string;
}

const namePattern = /^([A-Za-z0-9-]{1,63})\.(\d{1,10})\.([0-9a-f]{8})\.[0-9a-f-]{36}\.(data|meta)$/;

/** This process, as its temp file names say. */
export const thisProcess: TempOwner = Object.freeze({
  host:
    hostname()
      .replace(/[^A-Za-z0-9-]/g, '-')
      .slice(0, 63) || 'host',
  pid: process.pid,
  instance: randomBytes(4).toString('hex'),
});

/** A fresh temp file name owned by `owner`. */
export function tempFileName(kind: 'data' | 'meta', owner: TempOwner = thisProcess): string {
  return `${owner.host}.${owner.pid}.${owner.instance}.${randomUUID()}.${kind}`;
}

/** Whether a process with this pid exists on this host (EPERM: it exists, another user's). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code !== 'ESRCH';
  }
}

/**
 * True when `name` is a temp file whose writer is known to be dead (see {@link TempOwner}):
 * it can be removed now, whatever its age. `alive` is injectable for tests.
 */
export function isOrphanTemp(
  name: string,
  me: TempOwner = thisProcess,
  alive: (pid: number) => boolean = pidAlive,
): boolean {
  const match = namePattern.exec(name);
  if (match === null) return false;
  const [, host, pidText, instance] = match;
  if (host !== me.host) return false;
  const pid = Number(pidText);
  if (pid === me.pid) return instance !== me.instance;
  return !alive(pid);
}
