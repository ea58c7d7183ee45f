/**
 * The route53 DNS provider, with its dependencies injectable (the SDK
 * loader) so tests can simulate a missing SDK. `index.ts` is the public face.
 */
import type { Route53Options } from './index.js';
import type { Change } from '@aws-sdk/client-route-53';
import type { DnsCallOptions, DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { absoluteName } from '../../src/challenges/zones.js';
import { AbortError, ConfigError, DnsError, isCertpilotError } from '../../src/errors.js';
import { sleep } from '../../src/sleep.js';
import { Route53Api, defaultSdkLoader, type SdkLoader } from './api.js';
import { NameLocks } from './locks.js';
import { planAppend, planDelete, readTxtSet, sameSets, type TxtSet } from './records.js';
import { HostedZones } from './zones.js';
import { decodeTxtValue } from './txt.js';

/** Options of the route53 provider: the public, documented `Route53Options` (type-only import, no cycle at run time). */
export type Route53ProviderOptions = Route53Options;

/** What a test may replace. */
export interface Route53Dependencies {
  /** @default `() => import('@aws-sdk/client-route-53')` */
  loadSdk?: SdkLoader;
}

type Mode = 'append' | 'delete';

/** Builds the provider; see `route53()` in index.ts. */
export function createRoute53Provider(options: Route53ProviderOptions = {}, deps: Route53Dependencies = {}): DnsProvider {
  const settings = validate(options);
  const secrets = [options.credentials?.secretAccessKey, options.credentials?.sessionToken].filter((s): s is string => !!s);
  const loadSdk = deps.loadSdk ?? defaultSdkLoader;
  let ready: Promise<Route53Api> | undefined;
  // Created on first use; a failed load (SDK missing) is retried on the next call, not cached.
  const api = (): Promise<Route53Api> =>
    (ready ??= Route53Api.create({ ...options, maxRetries: settings.maxRetries, secrets }, loadSdk).catch((error: unknown) => {
      ready = undefined;
      throw error;
    }));
  const zones = new HostedZones(api, options.hostedZoneId);
  const locks = new NameLocks();

  /** Appends or deletes `records` in one change batch per call, then waits until Route 53 has applied it. */
  async function modify(mode: Mode, zone: string, records: DnsRecord[], signal: AbortSignal): Promise<DnsRecord[]> {
    if (signal.aborted) throw new AbortError(`route53: ${mode} of TXT records in ${zone} was aborted`, { cause: signal.reason });
    const byName = groupByName(zone, records);
    if (byName.size === 0) return [];
    const client = await api();
    const hostedZoneId = await zones.idFor(zone, signal);
    const release = await locks.acquire([...byName.keys()].map((name) => `${hostedZoneId} ${name}`), signal);
    let submitted: { id: string; status: string | undefined } | undefined;
    let done: DnsRecord[] = [];
    try {
      let previous: Map<string, TxtSet | undefined> | undefined;
      let rejected: unknown;
      for (let attempt = 1; ; attempt++) {
        const current = new Map(await Promise.all([...byName.keys()].map(async (name) => [name, await readTxtSet(client, hostedZoneId, name, signal)] as const)));
        // Change batches are all-or-nothing: a rejected one changed nothing. If the sets read
        // now equal those read before it, the rejection was not a race, and a retry would repeat it.
        if (rejected !== undefined && sameSets(current, previous!)) throw rejected;
        if (rejected !== undefined && attempt > settings.maxRetries + 1) throw keptChanging(rejected, attempt - 1);
        previous = current;
        const planned = plan(mode, byName, current);
        done = planned.done;
        if (planned.changes.length === 0) break;
        try {
          const info = await client.changeResourceRecordSets(hostedZoneId, planned.changes, signal);
          submitted = { id: info.Id!, status: info.Status };
          break;
        } catch (error) {
          if (!isInvalidChangeBatchError(error)) throw error;
          rejected = error;
        }
      }
    } finally {
      // Later readers see this change at once (ListResourceRecordSets returns PENDING changes too),
      // so other calls on these names need not wait for it to reach every name server.
      release();
    }
    if (submitted && submitted.status !== 'INSYNC') await waitInSync(client, submitted.id, signal);
    return done;
  }

  async function waitInSync(client: Route53Api, id: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + settings.syncTimeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new DnsError('DNS_PROVIDER_ERROR', `route53: change ${id} was still PENDING after ${settings.syncTimeoutMs} ms (Route 53 usually applies changes within 60 s); raise syncTimeoutMs if this repeats`, {
          retryable: true,
          details: { provider: 'route53', changeId: id },
        });
      }
      await sleep(Math.min(settings.pollIntervalMs, left), signal).catch((error: unknown) => {
        throw new AbortError(`route53: waiting for change ${id} was aborted`, { cause: (error as { cause?: unknown }).cause });
      });
      const info = await client.getChange(id, signal);
      if (info?.Status === 'INSYNC') return;
    }
  }

  return {
    name: 'route53',
    appendRecords: (zone: string, records: DnsRecord[], { signal }: DnsCallOptions) => modify('append', zone, records, signal),
    deleteRecords: (zone: string, records: DnsRecord[], { signal }: DnsCallOptions) => modify('delete', zone, records, signal),
    async listZones({ signal }: DnsCallOptions): Promise<string[]> {
      if (signal.aborted) throw new AbortError('route53: listing hosted zones was aborted', { cause: signal.reason });
      return zones.list(signal);
    },
  } satisfies DnsProvider;
}

/**
 * The changes that apply `mode` to the sets as read, and the records the
 * call reports: every appended record, or the deleted ones that were there.
 */
function plan(mode: Mode, byName: Map<string, DnsRecord[]>, current: Map<string, TxtSet | undefined>): { changes: Change[]; done: DnsRecord[] } {
  const changes: Change[] = [];
  const done: DnsRecord[] = [];
  for (const [name, group] of byName) {
    const set = current.get(name);
    const values = group.map((r) => r.value);
    const change = mode === 'append' ? planAppend(name, set, values, Math.min(...group.map((r) => r.ttl))) : planDelete(set, values);
    if (change) changes.push(change);
    if (mode === 'append') done.push(...group.map((r) => ({ ...r })));
    else done.push(...group.filter((r) => set?.values.some((raw) => decodeTxtValue(raw) === r.value)));
  }
  return { changes, done };
}

/** Groups records by lower-case FQDN; only TXT is supported. */
function groupByName(zone: string, records: DnsRecord[]): Map<string, DnsRecord[]> {
  const groups = new Map<string, DnsRecord[]>();
  for (const record of records) {
    if (record.type !== 'TXT') throw new DnsError('DNS_PROVIDER_ERROR', `route53: only TXT records are supported, got ${String(record.type)}`, { details: { provider: 'route53' } });
    const name = absoluteName(record.name, zone).toLowerCase();
    groups.set(name, [...(groups.get(name) ?? []), record]);
  }
  return groups;
}

/** The rejection after the last retry of a batch that kept racing with another writer: worth trying again later. */
function keptChanging(rejected: unknown, attempts: number): DnsError {
  const message = rejected instanceof Error ? rejected.message : String(rejected);
  return new DnsError('DNS_PROVIDER_ERROR', `${message} The record sets kept changing under another writer (${attempts} attempts).`, {
    cause: rejected,
    retryable: true,
    details: { provider: 'route53', awsCode: 'InvalidChangeBatch' },
  });
}

/** Route 53 rejected the change batch (transactional: nothing of it was applied). */
function isInvalidChangeBatchError(error: unknown): boolean {
  return isCertpilotError(error) && error.details.awsCode === 'InvalidChangeBatch';
}

interface Settings { maxRetries: number; pollIntervalMs: number; syncTimeoutMs: number }

/** Checks options when the provider is built, so a typo fails at startup rather than at the first renewal. */
function validate(options: Route53ProviderOptions): Settings {
  if (options === null || typeof options !== 'object') throw new ConfigError('INVALID_OPTIONS', 'route53: options must be an object, e.g. route53({ hostedZoneId: "Z123" })');
  const { credentials } = options;
  if (credentials !== undefined && (typeof credentials?.accessKeyId !== 'string' || !credentials.accessKeyId || typeof credentials.secretAccessKey !== 'string' || !credentials.secretAccessKey)) {
    throw new ConfigError('INVALID_OPTIONS', 'route53: credentials needs accessKeyId and secretAccessKey (and sessionToken for temporary credentials); omit credentials to use the AWS default credential chain');
  }
  if (options.endpoint !== undefined) {
    try { new URL(options.endpoint); } catch { throw new ConfigError('INVALID_OPTIONS', `route53: endpoint ${JSON.stringify(options.endpoint)} is not a URL; e.g. https://route53.amazonaws.com`); }
  }
  const number = (name: keyof Settings, fallback: number, min: number): number => {
    const value = options[name] ?? fallback;
    if (!Number.isFinite(value) || value < min) throw new ConfigError('INVALID_OPTIONS', `route53: ${name} must be a number >= ${min}, got ${String(options[name])}`);
    return value;
  };
  return {
    maxRetries: Math.floor(number('maxRetries', 5, 0)),
    pollIntervalMs: number('pollIntervalMs', 2_000, 1),
    syncTimeoutMs: number('syncTimeoutMs', 120_000, 1),
  };
}
