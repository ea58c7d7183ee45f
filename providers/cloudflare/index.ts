/**
 * DNS provider for Cloudflare, through the API v4 with scoped API tokens.
 *
 * @example
 * ```ts
 * import { cloudflare } from 'certpilot/providers/cloudflare';
 * const dns = cloudflare({ apiToken: process.env.CLOUDFLARE_API_TOKEN! });
 * ```
 */
import { AbortError, ConfigError, DnsError } from '../../src/errors.js';
import type { DnsCallOptions, DnsProvider, DnsRecord } from '../../src/challenges/provider.js';
import { absoluteName } from '../../src/challenges/zones.js';
import { CloudflareApiError, CloudflareClient, CODES, DEFAULT_ENDPOINT, type CloudflareDnsRecord } from './api.js';
import { quoteTxt, unquoteTxt } from './txt.js';

export { CloudflareClient, CloudflareApiError, CODES, DEFAULT_ENDPOINT, type CloudflareClientOptions } from './api.js';

/** Options of {@link cloudflare}. */
export interface CloudflareOptions {
  /**
   * A Cloudflare API token (not the Global API Key) with DNS:Edit on the
   * zone, and Zone:Read on it unless `zoneToken` or `zoneId` is given.
   * Sent with every DNS record request.
   */
  apiToken: string;
  /**
   * A second API token used only to find zone ids (`GET /zones`), for
   * setups that keep the Zone:Read grant apart from the DNS:Edit one.
   * @default apiToken
   */
  zoneToken?: string;
  /**
   * The zone's id (32 hex digits, on the zone's Overview page). Skips the
   * zone lookup, so `apiToken` needs DNS:Edit only. Every zone this provider
   * is asked about is then this zone, and the provider has no `listZones`:
   * certpilot finds the zone of a name through an SOA lookup instead.
   * @default looked up by name with `GET /zones?name=…`, once per zone
   */
  zoneId?: string;
  /** API base URL (a proxy, or a fake in tests). @default 'https://api.cloudflare.com/client/v4' */
  endpoint?: string;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Bound on each HTTP request, in milliseconds. @default 30000 */
  requestTimeoutMs?: number;
  /**
   * Retries of one request after 429, 5xx or a network failure, with a
   * backoff that honours `Retry-After` (a wait over 60 s is not slept
   * through: the call fails retryably instead).
   * @default 4
   */
  maxRetries?: number;
}

/** What {@link cloudflare} keeps in `DnsRecord.providerData`: the id of the record it created. */
export interface CloudflareRecordData {
  id: string;
}

/** Facts about this provider, for documentation and tooling. */
export const meta = {
  name: 'cloudflare',
  description: 'Cloudflare DNS (API v4, scoped API tokens)',
  permissions: 'Zone:Read and DNS:Edit on the zone; DNS:Edit only when zoneId is given',
} as const;

/** Shown on each record in the dashboard, so a person knows what created it and that it is temporary. */
const COMMENT = 'certpilot: ACME DNS-01 challenge (temporary)';

/**
 * Creates a {@link DnsProvider} that edits TXT records of Cloudflare zones.
 *
 * - Records are created one by one with their content in quotes, as
 *   Cloudflare's TXT schema asks; DNS serves the bare challenge value.
 * - An "identical record already exists" answer (81058) counts as created:
 *   the existing record's id is looked up and returned.
 * - Deleting uses the record id from `providerData`; without one, the
 *   records at that name with exactly that value are looked up and deleted
 *   (Cloudflare's content filter ignores case, so values are compared here).
 *   A record already gone is fine. Records with another value are never
 *   touched.
 * - Zone ids are looked up by name once and cached for the provider's life.
 *
 * @example
 * ```ts
 * import { cloudflare } from 'certpilot/providers/cloudflare';
 * const dns = cloudflare({ apiToken: process.env.CLOUDFLARE_API_TOKEN! });
 * // least privilege: a token with DNS:Edit on one zone, and its id
 * const scoped = cloudflare({ apiToken: process.env.CLOUDFLARE_DNS_TOKEN!, zoneId: '023e105f4ecef8ad9ca31a8372d0c353' });
 * ```
 */
export function cloudflare(options: CloudflareOptions): DnsProvider {
  const config = validate(options);
  const api = new CloudflareClient(config);
  /** Zone name (no trailing dot) → id, filled by lookups and by listZones. */
  const zoneIds = new Map<string, string>();
  const zoneTokenRole = config.zoneToken === undefined ? 'apiToken' : 'zoneToken';

  async function zoneIdOf(zone: string, signal: AbortSignal): Promise<string> {
    if (config.zoneId !== undefined) return config.zoneId;
    const name = bare(zone);
    const cached = zoneIds.get(name);
    if (cached !== undefined) return cached;
    const found = (await api.listZones(signal, name)).filter((z) => z.name.toLowerCase() === name);
    // A name can exist twice (a zone re-added while the old copy is pending or moved): the active one edits live DNS.
    const active = found.filter((z) => z.status === undefined || z.status === 'active');
    const candidates = active.length ? active : found;
    if (candidates.length !== 1) {
      const message = candidates.length === 0
        ? `cloudflare: no zone named ${name} is visible to the ${zoneTokenRole}. Check that the zone is in the account and that Zone:Read on it is granted to the ${zoneTokenRole}, or pass zoneId.`
        : `cloudflare: ${candidates.length} zones named ${name} are visible (ids ${candidates.map((z) => z.id).join(', ')}); pass zoneId to choose one.`;
      throw new DnsError(candidates.length === 0 ? 'DNS_ZONE_NOT_FOUND' : 'DNS_PROVIDER_ERROR', message, { retryable: false, details: { provider: 'cloudflare', zone: name } });
    }
    zoneIds.set(name, candidates[0]!.id);
    return candidates[0]!.id;
  }

  /** A zone deleted and re-added gets a new id: forget a looked-up id that Cloudflare no longer knows, so the next call looks again. */
  function forgetStaleZone(zone: string, error: unknown): void {
    if (error instanceof CloudflareApiError && error.cloudflareCodes.includes(CODES.invalidIdentifier)) zoneIds.delete(bare(zone));
  }

  /** Records at `name` whose value is exactly `value` (the API filter is case-insensitive). */
  async function findExact(zoneId: string, name: string, value: string, signal: AbortSignal): Promise<CloudflareDnsRecord[]> {
    const listed = await api.listTxtRecords(zoneId, name, quoteTxt(value), signal);
    return listed.filter((r) => r.type === 'TXT' && r.name.toLowerCase() === name && unquoteTxt(r.content) === value);
  }

  async function create(zoneId: string, name: string, record: DnsRecord, signal: AbortSignal): Promise<string> {
    // Twice at most: an identical record can vanish between the 81058 answer and our lookup.
    for (let attempt = 0; attempt < 2; attempt++) {
      const created = await api.createTxtRecord(zoneId, { name, content: quoteTxt(record.value), ttl: cloudflareTtl(record.ttl), comment: COMMENT }, signal);
      if (created !== 'exists') return created.id;
      const [existing] = await findExact(zoneId, name, record.value, signal);
      if (existing) return existing.id;
    }
    throw new DnsError('DNS_PROVIDER_ERROR', `cloudflare: create TXT record at ${name} failed: Cloudflare says an identical record exists, but no record at that name holds the value`, {
      retryable: true,
      details: { provider: 'cloudflare', name },
    });
  }

  const provider: DnsProvider = {
    name: meta.name,

    async appendRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      assertTxt(records);
      if (signal.aborted) throw new AbortError(`cloudflare: creating TXT records in zone ${zone} was aborted`, { cause: signal.reason });
      if (records.length === 0) return [];
      const zoneId = await zoneIdOf(zone, signal);
      const created: DnsRecord[] = [];
      // One at a time: a handful of records per order, and it keeps us far from Cloudflare's rate limit.
      try {
        for (const record of records) {
          const id = await create(zoneId, fqdnOf(record.name, zone), record, signal);
          created.push({ ...record, providerData: { id } satisfies CloudflareRecordData });
        }
      } catch (error) {
        forgetStaleZone(zone, error);
        throw error;
      }
      return created;
    },

    async deleteRecords(zone: string, records: DnsRecord[], { signal }: DnsCallOptions): Promise<DnsRecord[]> {
      assertTxt(records);
      if (signal.aborted) throw new AbortError(`cloudflare: deleting TXT records in zone ${zone} was aborted`, { cause: signal.reason });
      if (records.length === 0) return [];
      const zoneId = await zoneIdOf(zone, signal);
      const deleted: DnsRecord[] = [];
      const failures: unknown[] = [];
      // Every record gets its chance even when one fails: cleanup should leave as little behind as it can.
      for (const record of records) {
        try {
          const name = fqdnOf(record.name, zone);
          const id = recordId(record.providerData);
          const ids = id !== undefined ? [id] : (await findExact(zoneId, name, record.value, signal)).map((r) => r.id);
          let removed = false;
          for (const each of ids) removed = (await api.deleteRecord(zoneId, each, name, signal)) || removed;
          if (removed) deleted.push(record);
        } catch (error) {
          if (signal.aborted) throw error;
          forgetStaleZone(zone, error);
          failures.push(error);
        }
      }
      if (failures.length) throw failures[0];
      return deleted;
    },
  };

  if (config.zoneId === undefined) {
    provider.listZones = async ({ signal }: DnsCallOptions): Promise<string[]> => {
      const zones = await api.listZones(signal);
      // Only active zones: a pending or moved zone is not what DNS serves, and listing it
      // could make the core pick it over the live parent zone.
      const names = new Map<string, string[]>();
      for (const z of zones) {
        if (z.status !== undefined && z.status !== 'active') continue;
        const name = z.name.toLowerCase();
        names.set(name, [...(names.get(name) ?? []), z.id]);
      }
      // Remember unambiguous ids: the appends that follow a listing need no lookup.
      for (const [name, ids] of names) if (ids.length === 1) zoneIds.set(name, ids[0]!);
      return [...names.keys()].map((name) => `${name}.`);
    };
  }
  return provider;
}

function validate(options: CloudflareOptions): CloudflareOptions {
  if (!options || typeof options !== 'object') {
    throw new ConfigError('INVALID_OPTIONS', 'cloudflare: options are required, e.g. cloudflare({ apiToken: process.env.CLOUDFLARE_API_TOKEN })');
  }
  const apiToken = token(options.apiToken, 'apiToken', true)!;
  const zoneToken = token(options.zoneToken, 'zoneToken', false);
  if (options.zoneId !== undefined && !(typeof options.zoneId === 'string' && /^[0-9a-f]{32}$/i.test(options.zoneId.trim()))) {
    throw new ConfigError('INVALID_OPTIONS', `cloudflare: zoneId must be the zone's id, 32 hex digits (on the zone's Overview page, under API), not its name; got ${JSON.stringify(String(options.zoneId)).slice(0, 80)}`);
  }
  for (const key of ['requestTimeoutMs', 'maxRetries'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= (key === 'maxRetries' ? 0 : 1))) {
      throw new ConfigError('INVALID_OPTIONS', `cloudflare: ${key} must be a ${key === 'maxRetries' ? 'non-negative' : 'positive'} number, got ${String(value)}`);
    }
  }
  return { ...options, apiToken, zoneToken, zoneId: options.zoneId?.trim().toLowerCase(), endpoint: options.endpoint ?? DEFAULT_ENDPOINT };
}

/** A token without the whitespace files and env files often add; never echoed in messages. */
function token(value: unknown, option: 'apiToken' | 'zoneToken', required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  const text = typeof value === 'string' ? value.trim() : '';
  if (!text) {
    throw new ConfigError('INVALID_OPTIONS', `cloudflare: ${option} must be a non-empty Cloudflare API token${required ? ', e.g. cloudflare({ apiToken: process.env.CLOUDFLARE_API_TOKEN })' : ''}`);
  }
  if (!/^[\x21-\x7e]+$/.test(text)) throw new ConfigError('INVALID_OPTIONS', `cloudflare: ${option} contains spaces or characters a token never has; check how it is loaded`);
  return text;
}

function assertTxt(records: DnsRecord[]): void {
  for (const record of records) {
    if (record.type !== 'TXT') throw new DnsError('DNS_PROVIDER_ERROR', `cloudflare: only TXT records are supported, got ${String(record.type)}`);
  }
}

/** `example.com.` → `example.com` (Cloudflare names carry no trailing dot). */
function bare(fqdn: string): string {
  return fqdn.toLowerCase().replace(/\.+$/, '');
}

function fqdnOf(name: string, zone: string): string {
  return bare(absoluteName(name, zone));
}

/** Cloudflare takes 60–86400 s (1 means "automatic", 300 s): short is what a challenge wants. */
function cloudflareTtl(ttl: number): number {
  return Number.isFinite(ttl) ? Math.min(86_400, Math.max(60, Math.round(ttl))) : 60;
}

function recordId(data: unknown): string | undefined {
  const id = (data as Partial<CloudflareRecordData> | undefined)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}
