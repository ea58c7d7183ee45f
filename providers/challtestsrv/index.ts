/**
 * DNS provider for pebble-challtestsrv, the mock DNS server that pairs with
 * the Pebble test CA. For tests and local development only: challtestsrv has
 * no authentication and answers every name it is told about.
 *
 * @example
 * ```ts
 * import { challtestsrv } from 'certpilot/providers/challtestsrv';
 * const dns = challtestsrv({ managementUrl: 'http://127.0.0.1:8055' });
 * // with propagation: { nameservers: ['127.0.0.1:8053'] } — challtestsrv is not reachable through NS records
 * ```
 */
import { ConfigError, DnsError, throwIfAborted } from '../../src/errors.js';
import type { DnsCallOptions, DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { assertServers, NodeDnsResolver, toFqdn } from '../../src/challenges/resolver.js';
import { absoluteName } from '../../src/challenges/zones.js';
import { ChalltestsrvClient } from './api.js';

export { ChalltestsrvClient, type ChalltestsrvClientOptions } from './api.js';

/** Options of {@link challtestsrv}. */
export interface ChalltestsrvOptions {
  /** Base URL of the management API (`-management` flag), e.g. `http://127.0.0.1:8055`. */
  managementUrl: string;
  /**
   * Zones `listZones()` reports (FQDNs; a trailing dot is added).
   * challtestsrv answers SOA queries with NOTIMP, so zones cannot be found
   * by an SOA walk; and since it serves every name, the whole namespace is
   * one zone to it. Give explicit zones when a test wants realistic zone
   * names in events and relative record names.
   * @default ['.'] (the root: every domain fits)
   */
  zones?: string[];
  /**
   * The challtestsrv DNS listener (`-dns01` flag) as `'ip:port'`, e.g.
   * `'127.0.0.1:8053'`. When given, a delete first reads what the host
   * answers and adds back every value it does not delete, so values other
   * programs put at the same name survive. Without it only the values this
   * provider instance added are kept.
   * @default undefined
   */
  dnsServer?: string;
  /** Bound on each management request. @default 10000 */
  requestTimeoutMs?: number;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
}

/** Facts about this provider, for documentation and tooling. */
export const meta = {
  name: 'challtestsrv',
  description: 'pebble-challtestsrv management API (tests and local development only)',
  permissions: 'none: the management API is unauthenticated; bind it to 127.0.0.1',
} as const;

/**
 * Creates a {@link DnsProvider} that edits TXT records through the
 * challtestsrv management API (`/set-txt`, `/clear-txt`).
 *
 * challtestsrv can only clear *every* value of a host, so the provider
 * remembers the values it added per host (as a multiset: the same value
 * appended twice needs two deletions) and, when deleting, clears the host
 * and adds back the values that remain. Operations on one host are
 * serialized so a clear never races an add. Consequences worth knowing:
 * - deleting a value this provider instance did not add is a no-op (it
 *   cannot be told apart from someone else's record, which a clear would
 *   destroy), which also makes deleting twice harmless;
 * - values other programs put at the same host survive a delete only when
 *   `dnsServer` is given (the provider then reads them back first; a value
 *   added between that read and the clear is still lost — fine for tests).
 *
 * @example
 * ```ts
 * const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:8055', zones: ['example.test.'] });
 * const created = await provider.appendRecords('example.test.', [{ type: 'TXT', name: '_acme-challenge', value: 'abc', ttl: 60 }], { signal });
 * await provider.deleteRecords('example.test.', created, { signal });
 * ```
 */
export function challtestsrv(options: ChalltestsrvOptions): DnsProvider {
  if (!options || typeof options.managementUrl !== 'string') {
    throw new ConfigError('INVALID_OPTIONS', "challtestsrv: managementUrl is required, e.g. challtestsrv({ managementUrl: 'http://127.0.0.1:8055' })");
  }
  assertServers(options.dnsServer === undefined ? undefined : [options.dnsServer], 'challtestsrv dnsServer');
  const api = new ChalltestsrvClient(options);
  const resolver = new NodeDnsResolver();
  const zones = (options.zones ?? ['.']).map(toFqdn);
  /** host → values this instance added (repeats allowed). */
  const added = new Map<string, string[]>();
  /** host → tail of the chain of operations on it. */
  const queues = new Map<string, Promise<unknown>>();

  function serialized<T>(host: string, task: () => Promise<T>): Promise<T> {
    const run = (queues.get(host) ?? Promise.resolve()).then(task, task);
    const tail = run.catch(() => undefined);
    queues.set(host, tail);
    void tail.then(() => { if (queues.get(host) === tail) queues.delete(host); });
    return run;
  }

  function byHost(zone: string, records: DnsRecord[]): Map<string, DnsRecord[]> {
    const groups = new Map<string, DnsRecord[]>();
    for (const record of records) {
      if (record.type !== 'TXT') throw new DnsError('DNS_PROVIDER_ERROR', `challtestsrv: only TXT records are supported, got ${String(record.type)}`);
      const host = absoluteName(record.name, zone);
      groups.set(host, [...(groups.get(host) ?? []), record]);
    }
    return groups;
  }

  /** What `host` answers now, read from the DNS listener (failing rather than guessing: a guess would drop values). */
  async function currentValues(host: string, signal: AbortSignal): Promise<string[]> {
    try {
      const result = await resolver.lookup(host, 'TXT', { servers: [options.dnsServer!], timeoutMs: 2000, signal });
      return result.status === 'answer' ? result.values : [];
    } catch (error) {
      if (signal.aborted) throw error;
      throw new DnsError('DNS_PROVIDER_ERROR', `challtestsrv: could not read the TXT values of ${host} before deleting: ${(error as Error).message}`, {
        retryable: true,
        details: { provider: 'challtestsrv', host },
      });
    }
  }

  return {
    name: meta.name,

    async appendRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      throwIfAborted(signal, 'challtestsrv append');
      await Promise.all(
        [...byHost(zone, records)].map(([host, group]) =>
          serialized(host, async () => {
            for (const record of group) {
              const values = added.get(host) ?? [];
              const present = values.includes(record.value);
              // Counted before the request: if it fails after the server applied it, a delete still removes it.
              added.set(host, [...values, record.value]);
              if (!present) await api.setTxt(host, record.value, signal);
            }
          }),
        ),
      );
      return records.map((record) => ({ ...record }));
    },

    async deleteRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      throwIfAborted(signal, 'challtestsrv delete');
      const deleted: DnsRecord[] = [];
      await Promise.all(
        [...byHost(zone, records)].map(([host, group]) =>
          serialized(host, async () => {
            const values = [...(added.get(host) ?? [])];
            const removed = new Set<string>();
            for (const record of group) {
              const index = values.indexOf(record.value);
              if (index === -1) continue; // already gone, or never ours
              values.splice(index, 1);
              deleted.push(record);
              if (!values.includes(record.value)) removed.add(record.value);
            }
            const keep = new Set(values);
            if (removed.size > 0 && options.dnsServer) {
              for (const value of await currentValues(host, signal)) if (!removed.has(value)) keep.add(value);
            }
            if (removed.size > 0) await api.clearTxt(host, signal);
            // Bookkeeping follows the clear, not the re-adds: should a re-add fail, the values
            // still belong to challenges that will delete them, and that delete is harmless.
            if (values.length) added.set(host, values);
            else added.delete(host);
            if (removed.size > 0) for (const value of keep) await api.setTxt(host, value, signal);
          }),
        ),
      );
      return deleted;
    },

    async listZones(): Promise<string[]> {
      return [...zones];
    },
  } satisfies DnsProvider;
}
