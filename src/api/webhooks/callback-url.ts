import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { buildConnector } from 'undici';
import { InferqError } from '../../errors/index.js';

/** 2000::/3, the only IPv6 space IANA allocates as global unicast; the rest is reserved. */
const globalUnicastV6 = ipaddr.parseCIDR('2000::/3');

/**
 * True only for a public unicast address, as ipaddr.js classifies its special-purpose ranges
 * (IANA registries): everything it names — loopback, link-local (cloud metadata at
 * 169.254.169.254), private, carrier-grade NAT, reserved (192.0.0.0/24, 198.18.0.0/15, …), NAT64
 * (64:ff9b::/96), 6to4, Teredo — is refused, because an address that embeds or translates to
 * another IPv4 address can reach a private one on a network that routes it. IPv6 must also lie
 * in 2000::/3, which leaves out the deprecated IPv4-compatible ::/96 that ipaddr.js calls unicast.
 * An allow-list, not a block-list: a range added to the registry is refused until classified.
 */
export function isPublicUnicast(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const ip = ipaddr.process(address); // ::ffff:a.b.c.d is judged as the IPv4 it carries
  if (ip.range() !== 'unicast') return false;
  return ip.kind() === 'ipv4' || ip.match(globalUnicastV6);
}

function refused(url: string, reason: string): InferqError {
  return new InferqError('INFERQ_CALLBACK_URL_REFUSED', `callbackUrl ${url} is refused: ${reason}`, {
    details: { callbackUrl: url, reason },
  });
}

function privateAddressError(host: string, address: string): Error {
  const text = host === address ? address : `${host} resolves to ${address}, which`;
  return Object.assign(new Error(`${text} is not a public unicast address (refused)`), {
    code: 'EPRIVATE',
  });
}

/**
 * Checks what can be checked without the network: http(s) only, no credentials, and no literal
 * address outside public unicast, nor `localhost`. Every address is checked again at connect
 * ({@link guardedConnector}), because DNS can change between submission and delivery.
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
  if (host === 'localhost' || host.endsWith('.localhost')) {
    throw refused(raw, 'loopback addresses are not allowed');
  }
  if (ipaddr.isValid(host) && !isPublicUnicast(host)) {
    throw refused(
      raw,
      'only public unicast addresses are allowed (no loopback, link-local, private, reserved or translated ranges)',
    );
  }
  return url.toString();
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `dns.lookup` that refuses a name if any of its addresses is not public unicast. Checking inside
 * the connect step (not before the request) closes the gap where a name resolves to a public
 * address when checked and to a private one when connected (DNS rebinding).
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: object, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => !isPublicUnicast(a.address));
      if (!allowPrivate && bad !== undefined) {
        callback(privateAddressError(hostname, bad.address), []);
        return;
      }
      if ((options as { all?: boolean }).all === true) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/**
 * The undici connector for webhook deliveries: every address is checked before a socket opens.
 * Node's `net.connect` calls `lookup` only for names, so an IP literal (which would skip
 * {@link guardedLookup}) is checked here; names go through the guarded lookup.
 */
export function guardedConnector(
  allowPrivate: boolean,
  options: { connectTimeoutMs?: number } = {},
): buildConnector.connector {
  const connect = buildConnector({
    lookup: guardedLookup(allowPrivate),
    ...(options.connectTimeoutMs === undefined ? {} : { timeout: options.connectTimeoutMs }),
  });
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[|\]$/g, '');
    if (!allowPrivate && ipaddr.isValid(host) && !isPublicUnicast(host)) {
      callback(privateAddressError(host, host), null);
      return;
    }
    connect(opts, callback);
  };
}
