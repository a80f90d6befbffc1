import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { checkCallbackUrl, guardedConnector, isPublicUnicast } from '../../src/api/webhooks/callback-url.js';

const refusedAtSubmit: Array<[string, string]> = [
  ['IPv4 loopback', 'http://127.0.0.1/h'],
  ['IPv4 this-network', 'http://0.0.0.0/h'],
  ['IPv4 private 10/8', 'http://10.1.2.3/h'],
  ['IPv4 private 172.16/12', 'http://172.20.0.1/h'],
  ['IPv4 private 192.168/16', 'http://192.168.1.1/h'],
  ['IPv4 carrier-grade NAT', 'http://100.64.0.1/h'],
  ['IPv4 link-local (metadata)', 'http://169.254.169.254/h'],
  ['IPv4 IETF protocol assignments 192.0.0.0/24', 'http://192.0.0.170/h'],
  ['IPv4 benchmarking 198.18.0.0/15', 'http://198.19.255.1/h'],
  ['IPv4 documentation 203.0.113.0/24', 'http://203.0.113.9/h'],
  ['IPv4 multicast', 'http://224.0.0.1/h'],
  ['IPv4 reserved 240/4', 'http://240.0.0.1/h'],
  ['IPv4 broadcast', 'http://255.255.255.255/h'],
  ['IPv4 in decimal form (normalised by URL)', 'http://2130706433/h'],
  ['IPv6 loopback', 'http://[::1]/h'],
  ['IPv6 unspecified', 'http://[::]/h'],
  ['IPv4-mapped metadata', 'http://[::ffff:169.254.169.254]/h'],
  ['IPv4-compatible ::/96 (metadata)', 'http://[::a9fe:a9fe]/h'],
  ['NAT64 64:ff9b::/96 (metadata)', 'http://[64:ff9b::a9fe:a9fe]/h'],
  ['local-use NAT64 64:ff9b:1::/48', 'http://[64:ff9b:1::a9fe:a9fe]/h'],
  ['6to4 2002::/16 (metadata)', 'http://[2002:a9fe:a9fe::1]/h'],
  ['Teredo 2001::/32', 'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/h'],
  ['IPv6 documentation 2001:db8::/32', 'http://[2001:db8::1]/h'],
  ['IPv6 unique local', 'http://[fd00::1]/h'],
  ['IPv6 link-local', 'http://[fe80::1]/h'],
  ['IPv6 multicast', 'http://[ff02::1]/h'],
  ['IPv6 discard 100::/64', 'http://[100::1]/h'],
  ['IPv6 outside 2000::/3', 'http://[4000::1]/h'],
  ['localhost', 'http://localhost/h'],
  ['a .localhost name', 'http://api.localhost/h'],
];

describe('callback URLs: only public unicast addresses', () => {
  it.each(refusedAtSubmit)('refuses %s at submission', (_title, url) => {
    expect(() => checkCallbackUrl(url, false)).toThrow(
      expect.objectContaining({ code: 'INFERQ_CALLBACK_URL_REFUSED' }),
    );
    expect(checkCallbackUrl(url, true)).toBe(new URL(url).toString()); // the operator may allow them
  });

  it.each([
    'https://hooks.example.com/h',
    'http://8.8.8.8/h',
    'http://1.1.1.1:8080/h',
    'https://[2606:4700:4700::1111]/h',
    'http://[2a00:1450:4001:82b::200e]/h',
  ])('accepts the public %s', (url) => {
    expect(checkCallbackUrl(url, false)).toBe(new URL(url).toString());
  });

  it('judges an IPv4-mapped address as the IPv4 it carries', () => {
    expect(isPublicUnicast('::ffff:8.8.8.8')).toBe(true);
    expect(isPublicUnicast('::ffff:10.0.0.1')).toBe(false);
    expect(isPublicUnicast('not an address')).toBe(false);
  });
});

describe('the delivery connector checks every address before a socket opens', () => {
  async function countingServer() {
    let connections = 0;
    const server = createServer((_req, res) => res.end('ok'));
    server.on('connection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
  }

  it.each([
    ['an IP literal', (port: number) => `http://127.0.0.1:${port}/h`],
    ['a name resolving to loopback', (port: number) => `http://localhost:${port}/h`],
  ])('refuses %s without connecting; allows it when private callbacks are allowed', async (_t, urlOf) => {
    const { server, port, connections } = await countingServer();
    const guarded = new Agent({ connect: guardedConnector(false) });
    const open = new Agent({ connect: guardedConnector(true) });
    try {
      const err = await fetch(urlOf(port), { dispatcher: guarded }).catch((e: unknown) => e);
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('EPRIVATE');
      expect(connections()).toBe(0);
      expect(await (await fetch(urlOf(port), { dispatcher: open })).text()).toBe('ok');
      expect(connections()).toBe(1);
    } finally {
      await guarded.close();
      await open.close();
      server.close();
    }
  });
});
