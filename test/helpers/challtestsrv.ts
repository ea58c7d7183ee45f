import { freePort, waitForPort } from './ports.js';
import { requireBinary, startService, type Service } from './process.js';

/** A running pebble-challtestsrv: a DNS server on `dnsPort` and its management API on `managementUrl`. */
export interface Challtestsrv extends Service {
  dnsPort: number;
  managementPort: number;
  managementUrl: string;
  /** `127.0.0.1:dnsPort`, the form `propagation.nameservers` and Pebble's `-dnsserver` take. */
  dnsServer: string;
}

/** Starts pebble-challtestsrv on free loopback ports (DNS-01 only). */
export async function startChalltestsrv(): Promise<Challtestsrv> {
  requireBinary('/usr/bin/pebble-challtestsrv', 'pebble');
  const dnsPort = await freePort();
  const managementPort = await freePort();
  const service = startService('/usr/bin/pebble-challtestsrv', [
    '-dns01', `127.0.0.1:${dnsPort}`,
    '-management', `127.0.0.1:${managementPort}`,
    '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '::1',
  ]);
  await waitForPort(managementPort).catch((e) => { throw new Error(`${e.message}\n${service.output()}`); });
  return { ...service, dnsPort, managementPort, managementUrl: `http://127.0.0.1:${managementPort}`, dnsServer: `127.0.0.1:${dnsPort}` };
}
