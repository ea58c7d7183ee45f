/**
 * The provider behind {@link googleCloudDns}: groups records by name, finds
 * the managed zone, serializes edits of one record set within this instance,
 * and turns appends and deletes into record-set edits (see `rrset.ts`).
 */
import { AbortError, ConfigError } from '../../src/errors.js';
import type { DnsCallOptions, DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { absoluteName } from '../../src/challenges/zones.js';
import { CloudDnsClient } from './api.js';
import { tokenSource, type GoogleAuthLoader } from './auth.js';
import type { googleCloudDns, GoogleCloudDnsOptions } from './index.js';
import { editTxtSet, type EditOptions } from './rrset.js';
import { ManagedZones } from './zones.js';

/** What an appended record carries so its deletion finds the same managed zone. */
export interface GoogleCloudDnsRecordData {
  managedZone: string;
}

/** {@link googleCloudDns} with an injectable google-auth-library loader (tests simulate a missing package). */
export function createGoogleCloudDns(options: GoogleCloudDnsOptions, loadGoogleAuth?: GoogleAuthLoader): DnsProvider {
  if (!options || typeof options.project !== 'string' || !options.project) {
    throw new ConfigError('INVALID_OPTIONS', "google-cloud-dns: project is required, e.g. googleCloudDns({ project: 'my-project' })");
  }
  const endpoint = options.endpoint ?? 'https://dns.googleapis.com';
  try {
    new URL(endpoint);
  } catch {
    throw new ConfigError('INVALID_OPTIONS', `google-cloud-dns: endpoint ${JSON.stringify(endpoint)} is not a URL; the default is https://dns.googleapis.com`);
  }
  const maxRetries = nonNegative(options.maxRetries, 5, 'maxRetries');
  const api = new CloudDnsClient({
    project: options.project,
    endpoint,
    token: tokenSource(options, loadGoogleAuth),
    fetch: options.fetch ?? globalThis.fetch,
    maxRetries,
    requestTimeoutMs: nonNegative(options.requestTimeoutMs, 30_000, 'requestTimeoutMs'),
  });
  const zones = new ManagedZones(api, { project: options.project, managedZone: options.managedZone, allowPrivateZones: options.allowPrivateZones ?? false });
  const poll = { intervalMs: nonNegative(options.pollIntervalMs, 2_000, 'pollIntervalMs'), timeoutMs: nonNegative(options.changeTimeoutMs, 120_000, 'changeTimeoutMs') };
  /** `managedZone|fqdn` → tail of the edits queued on that set: our own edits never conflict with each other. */
  const queues = new Map<string, Promise<unknown>>();

  function serialized<T>(key: string, task: () => Promise<T>): Promise<T> {
    const run = (queues.get(key) ?? Promise.resolve()).then(task, task);
    const tail = run.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => { if (queues.get(key) === tail) queues.delete(key); });
    return run;
  }

  /** Groups records by FQDN and edits each name's set (names in parallel). */
  async function eachName(zone: string, records: DnsRecord[], signal: AbortSignal, apply: (edit: Omit<EditOptions, 'ttl'>, group: DnsRecord[]) => Promise<void>): Promise<void> {
    if (signal.aborted) throw abortError(signal);
    const groups = new Map<string, { managedZone: string | undefined; records: DnsRecord[] }>();
    for (const record of records) {
      if (record.type !== 'TXT') throw new ConfigError('INVALID_OPTIONS', `google-cloud-dns: only TXT records are supported, got ${String(record.type)}`);
      const fqdn = absoluteName(record.name, zone);
      const known = (record.providerData as Partial<GoogleCloudDnsRecordData> | undefined)?.managedZone;
      const group = groups.get(fqdn) ?? { managedZone: typeof known === 'string' ? known : undefined, records: [] };
      group.records.push(record);
      groups.set(fqdn, group);
    }
    await Promise.all(
      [...groups].map(async ([fqdn, group]) => {
        const managedZone = group.managedZone ?? (await zones.resolve(zone, signal));
        await serialized(`${managedZone}|${fqdn}`, () => apply({ api, managedZone, fqdn, maxConflicts: maxRetries, poll, signal }, group.records));
      }),
    );
  }

  return {
    name: 'google-cloud-dns',

    async appendRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      const created: DnsRecord[] = [];
      await eachName(zone, records, signal, async (edit, group) => {
        await editTxtSet({ ...edit, ttl: Math.min(...group.map((r) => r.ttl)) }, (current) => {
          const add = [...new Set(group.map((r) => r.value))].filter((v) => !current.some((e) => e.value === v));
          return add.length ? { keep: current, add } : undefined;
        });
        for (const record of group) created.push({ ...record, providerData: { managedZone: edit.managedZone } satisfies GoogleCloudDnsRecordData });
      });
      return created;
    },

    async deleteRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      const deleted: DnsRecord[] = [];
      await eachName(zone, records, signal, async (edit, group) => {
        const values = new Set(group.map((r) => r.value));
        let removed = new Set<string>();
        // The TTL is unused: a delete only ever shrinks an existing set, which keeps its TTL.
        await editTxtSet({ ...edit, ttl: 60 }, (current) => {
          const keep = current.filter((e) => !values.has(e.value));
          // Recomputed on every attempt: only what the successful read held was removed by us.
          removed = new Set(current.filter((e) => values.has(e.value)).map((e) => e.value));
          return keep.length === current.length ? undefined : { keep, add: [] };
        });
        deleted.push(...group.filter((r) => removed.has(r.value)));
      });
      return deleted;
    },

    async listZones({ signal }: DnsCallOptions): Promise<string[]> {
      if (signal.aborted) throw abortError(signal);
      return zones.list(signal);
    },
  } satisfies DnsProvider;
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError('google-cloud-dns: the call was aborted', { cause: signal.reason });
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError('INVALID_OPTIONS', `google-cloud-dns: ${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}
