/**
 * DNS provider for any authoritative server that accepts RFC 2136 dynamic
 * updates signed with TSIG (RFC 8945): BIND, Knot DNS, PowerDNS, NSD-fronted
 * setups with a dynamic primary, … No dependency: the few DNS messages it
 * needs are encoded here, over node:dgram / node:net and node:crypto.
 *
 * @example
 * ```ts
 * import { rfc2136 } from 'certpilot/providers/rfc2136';
 * const dns = rfc2136({
 *   server: 'ns1.example.com:53',
 *   tsig: { name: 'certpilot', secret: process.env.TSIG_SECRET!, algorithm: 'hmac-sha256' },
 * });
 * ```
 */
import { AbortError, ConfigError, DnsError } from '../../src/errors.js';
import type { DnsCallOptions, DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { toFqdn } from '../../src/challenges/resolver.js';
import { absoluteName } from '../../src/challenges/zones.js';
import { UpdateClient } from './client.js';
import { RRClass, RRType, encodeTxt, type ResourceRecord } from './message.js';
import { createTsigKey, type TsigAlgorithm } from './tsig.js';
import { parseServer, type Protocol } from './transport.js';

export type { TsigAlgorithm } from './tsig.js';

/** The TSIG key, as in the server's `key` statement (or `tsig-keygen` output). */
export interface Rfc2136TsigOptions {
  /** Key name, e.g. `certpilot` (a trailing dot is optional; compared case-insensitively). */
  name: string;
  /** The key's secret, base64 (the `secret "…";` of the key statement). Never appears in errors. */
  secret: string;
  /**
   * HMAC algorithm of the key (a trailing dot is accepted).
   * @default 'hmac-sha256'
   */
  algorithm?: TsigAlgorithm;
}

/** Options of {@link rfc2136}. */
export interface Rfc2136Options {
  /**
   * The primary server that accepts updates: `'host:port'`, `'host'`
   * (port 53), `'[2001:db8::1]:53'` or a bare IPv6 address.
   */
  server: string;
  /** The TSIG key that signs every update and authenticates every answer. */
  tsig: Rfc2136TsigOptions;
  /**
   * Bound on each exchange with the server, in milliseconds. A timeout is a
   * retryable error.
   * @default 10000
   */
  timeoutMs?: number;
  /**
   * `'tcp'` or `'udp'`. TCP is the default because it needs no
   * retransmission logic and cannot be answered by a spoofed datagram; UDP
   * (retransmitted after 1 s, 2 s, …) falls back to TCP for messages over
   * 512 bytes and truncated answers.
   * @default 'tcp'
   */
  transport?: Protocol;
  /**
   * Zones `listZones()` reports (FQDNs; a trailing dot is added). DNS UPDATE
   * cannot enumerate zones, so without this the provider has no `listZones`
   * and the core finds each zone by an SOA walk — give it when the SOA walk
   * cannot see the zone (split horizon, not yet delegated).
   * @default undefined (SOA walk)
   */
  zones?: string[];
}

/** Facts about this provider, for documentation and tooling. */
export const meta = {
  name: 'rfc2136',
  description: 'Any authoritative DNS server that accepts RFC 2136 dynamic updates signed with TSIG (BIND, Knot DNS, PowerDNS, …)',
  permissions:
    'a TSIG key allowed to change only TXT records at the _acme-challenge names, e.g. BIND ' +
    '`update-policy { grant KEY name _acme-challenge.example.com. TXT; };` (one rule per name), ' +
    'or `grant KEY zonesub TXT;` on a zone that holds nothing but challenges, reached by CNAME',
} as const;

/**
 * Creates a {@link DnsProvider} that adds and deletes TXT records with
 * signed DNS UPDATE messages.
 *
 * - `appendRecords` sends one UPDATE that adds every record (class IN):
 *   adding to an RRset keeps the values already there, so apex and wildcard
 *   challenges coexist.
 * - `deleteRecords` sends one UPDATE that deletes exactly those values
 *   (class NONE, RFC 2136 §2.5.4); a value already gone is not an error.
 * - Every answer must carry a valid TSIG MAC of the same key; unsigned or
 *   forged answers are rejected.
 *
 * @example
 * ```ts
 * const provider = rfc2136({ server: '127.0.0.1:53', tsig: { name: 'certpilot', secret }, zones: ['example.com.'] });
 * const created = await provider.appendRecords('example.com.', [{ type: 'TXT', name: '_acme-challenge', value: 'abc', ttl: 60 }], { signal });
 * await provider.deleteRecords('example.com.', created, { signal });
 * ```
 */
export function rfc2136(options: Rfc2136Options): DnsProvider {
  if (!options || typeof options !== 'object') {
    throw new ConfigError('INVALID_OPTIONS', "rfc2136: options are required, e.g. rfc2136({ server: '127.0.0.1:53', tsig: { name, secret } })");
  }
  const server = parseServer(options.server);
  let key;
  try {
    key = createTsigKey(options.tsig ?? ({} as Rfc2136TsigOptions));
  } catch (error) {
    throw new ConfigError('INVALID_OPTIONS', `rfc2136: ${(error as Error).message}`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new ConfigError('INVALID_OPTIONS', `rfc2136: timeoutMs must be a positive number, got ${String(options.timeoutMs)}`);
  const protocol = options.transport ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') throw new ConfigError('INVALID_OPTIONS', `rfc2136: transport must be 'tcp' or 'udp', got ${JSON.stringify(options.transport)}`);
  const zones = options.zones?.map(toFqdn);
  // The options object (and with it the base64 secret) is not kept: only the KeyObject inside the client is.
  const client = new UpdateClient({ server, key, protocol, timeoutMs });

  function toRecords(zone: string, records: DnsRecord[], remove: boolean): ResourceRecord[] {
    return records.map((record) => {
      if (record.type !== 'TXT') throw new DnsError('DNS_PROVIDER_ERROR', `rfc2136: only TXT records are supported, got ${String(record.type)}`);
      return {
        name: absoluteName(record.name, zone),
        type: RRType.TXT,
        // Class NONE with TTL 0 deletes this one RR from the RRset (RFC 2136 §2.5.4); class IN adds it (§2.5.1).
        class: remove ? RRClass.NONE : RRClass.IN,
        ttl: remove ? 0 : record.ttl,
        rdata: encodeTxt(record.value),
      };
    });
  }

  const provider: DnsProvider = {
    name: meta.name,

    async appendRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      if (signal.aborted) throw new AbortError('rfc2136: the DNS update was aborted', { cause: signal.reason });
      const fqdn = toFqdn(zone);
      const updates = toRecords(fqdn, records, false);
      if (updates.length) await client.update(fqdn, updates, signal);
      return records.map((record) => ({ ...record }));
    },

    async deleteRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      if (signal.aborted) throw new AbortError('rfc2136: the DNS update was aborted', { cause: signal.reason });
      const fqdn = toFqdn(zone);
      const updates = toRecords(fqdn, records, true);
      if (updates.length) await client.update(fqdn, updates, signal);
      return records.map((record) => ({ ...record }));
    },
  };
  // Absent, not a function returning []: its absence is what tells the core to walk SOAs.
  if (zones) provider.listZones = async () => [...zones];
  return provider;
}
