import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { InferqError } from '../../errors/index.js';

/**
 * Addresses a webhook must not reach unless the operator allows it: loopback, link-local (cloud
 * metadata at 169.254.169.254), private, carrier-grade NAT, unspecified and multicast ranges.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** True for an address in a blocked range (IPv4-mapped IPv6 judged as the IPv4 it carries). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) return blocked.check(address, 'ipv6');
  return false;
}

function refused(url: string, reason: string): InferqError {
  return new InferqError('INFERQ_CALLBACK_URL_REFUSED', `callbackUrl ${url} is refused: ${reason}`, {
    details: { callbackUrl: url, reason },
  });
}

/**
 * Checks what can be checked without the network: http(s) only, no credentials, and no literal
 * private address or `localhost`. Names are checked again when resolved, at delivery time
 * ({@link guardedLookup}), because DNS can change between submission and delivery.
 */
export function checkCallbackUrl(raw: string, allowPrivate: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused(raw, 'not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw refused(raw, 'only http and https are allowed');
  if (url.username !== '' || url.password !== '')
    throw refused(raw, 'credentials in the URL are not allowed');
  if (allowPrivate) return url.toString();
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || isPrivateAddress(host)) {
    throw refused(raw, 'loopback, link-local and private addresses are not allowed');
  }
  return url.toString();
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `dns.lookup` for the webhook HTTP client that refuses private addresses. Checking inside the
 * connect step (not before the request) closes the gap where a name resolves to a public address
 * when checked and to a private one when connected (DNS rebinding).
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: object, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => isPrivateAddress(a.address));
      if (!allowPrivate && bad !== undefined) {
        callback(
          Object.assign(new Error(`${hostname} resolves to a private address ${bad.address}`), {
            code: 'EPRIVATE',
          }),
          [],
        );
        return;
      }
      if ((options as { all?: boolean }).all === true) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
