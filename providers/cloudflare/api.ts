/**
 * A small client for the part of the Cloudflare API v4 the DNS-01 provider
 * needs: zones list, DNS records list/create/delete. Plain `fetch`, no SDK:
 * the official one is large and we use four endpoints.
 *
 * What it owns: the bearer token per request (the zone token for zone
 * lookups, the API token for records), the response envelope
 * `{ success, errors: [{ code, message }], messages, result, result_info }`,
 * page-by-page listing, retries of 429 / 5xx / network failures with a
 * bounded backoff that honours `Retry-After`, abort, and error messages that
 * name the token and permission at fault but never contain a token.
 */
import { retryDelay, sleep } from '../../src/sleep.js';
import { ConfigError } from '../../src/errors.js';
import { aborted, apiError, CloudflareApiError, CODES, describeFetchError, withNote, type Call, type Envelope, type TokenRole } from './errors.js';

export { CloudflareApiError, CODES, type TokenRole, type Permission } from './errors.js';

/** The Cloudflare API base used when `endpoint` is not given. */
export const DEFAULT_ENDPOINT = 'https://api.cloudflare.com/client/v4';

/** Options of {@link CloudflareClient}. */
export interface CloudflareClientOptions {
  /** API token sent with DNS record requests. */
  apiToken: string;
  /** API token sent with zone lookups. @default apiToken */
  zoneToken?: string;
  /** API base URL. @default 'https://api.cloudflare.com/client/v4' */
  endpoint?: string;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Bound on each HTTP request. @default 30000 */
  requestTimeoutMs?: number;
  /** Retries of one request after 429, 5xx or a network failure. @default 4 */
  maxRetries?: number;
}

/** A zone as `GET /zones` returns it (the fields we read). */
export interface CloudflareZone {
  id: string;
  name: string;
  status?: string;
}

/** A DNS record as `/zones/:id/dns_records` returns it (the fields we read). */
export interface CloudflareDnsRecord {
  id: string;
  type: string;
  name: string;
  content: string;
  ttl?: number;
}

/** Longest `Retry-After` we sleep through inside one call. Cloudflare's global limit blocks for five minutes: better to fail retryably and let the manager's schedule come back. */
const MAX_RETRY_AFTER_MS = 60_000;
/** Backoff without `Retry-After`: 250 ms doubling, capped. */
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 8_000;
/** A guard against a server that keeps promising another page. */
const MAX_PAGES = 1_000;

/**
 * Typed access to the endpoints the provider uses. Every method takes the
 * caller's signal; an aborted signal rejects with an `AbortError` (code ABORTED) before
 * any request is sent, and during a backoff wait.
 *
 * @example
 * ```ts
 * const api = new CloudflareClient({ apiToken });
 * const [zone] = await api.listZones(signal, 'example.com');
 * await api.createTxtRecord(zone.id, { name: '_acme-challenge.example.com', content: '"v"', ttl: 60 }, signal);
 * ```
 */
export class CloudflareClient {
  readonly #apiToken: string;
  readonly #zoneToken: string;
  /** The option zone lookups authenticate with, for messages: `zoneToken` only when one was given. */
  readonly #zoneRole: TokenRole;
  readonly #base: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;

  constructor(options: CloudflareClientOptions) {
    this.#apiToken = options.apiToken;
    this.#zoneToken = options.zoneToken ?? options.apiToken;
    this.#zoneRole = options.zoneToken === undefined ? 'apiToken' : 'zoneToken';
    const endpoint = options.endpoint ?? DEFAULT_ENDPOINT;
    try {
      this.#base = new URL(endpoint).toString().replace(/\/+$/, '');
    } catch {
      throw new ConfigError('INVALID_OPTIONS', `cloudflare: endpoint ${JSON.stringify(endpoint)} is not a URL; leave it out to use ${DEFAULT_ENDPOINT}`);
    }
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxRetries = Math.max(0, Math.floor(options.maxRetries ?? 4));
  }

  /** Every zone the zone token can see (all pages), or those named `name` (without trailing dot). */
  listZones(signal: AbortSignal, name?: string): Promise<CloudflareZone[]> {
    return this.#all<CloudflareZone>(
      {
        method: 'GET',
        path: '/zones',
        query: name === undefined ? {} : { name },
        role: this.#zoneRole,
        permission: 'Zone:Read',
        action: name === undefined ? 'list zones' : `look up zone ${name}`,
      },
      50, // the zones endpoint's maximum page size
      signal,
    );
  }

  /**
   * TXT records at `name` whose content matches `content` (all pages).
   * Cloudflare matches `name` and `content` case-insensitively: callers
   * compare the values themselves before acting on a record.
   */
  listTxtRecords(zoneId: string, name: string, content: string, signal: AbortSignal): Promise<CloudflareDnsRecord[]> {
    return this.#all<CloudflareDnsRecord>(
      {
        method: 'GET',
        path: `/zones/${encodeURIComponent(zoneId)}/dns_records`,
        query: { type: 'TXT', name, content },
        role: 'apiToken',
        permission: 'DNS:Edit',
        action: `find TXT records at ${name}`,
      },
      100,
      signal,
    );
  }

  /** Creates a TXT record. Resolves to `'exists'` when Cloudflare answers 81058 (an identical record exists). */
  async createTxtRecord(
    zoneId: string,
    record: { name: string; content: string; ttl: number; comment?: string },
    signal: AbortSignal,
  ): Promise<CloudflareDnsRecord | 'exists'> {
    try {
      const envelope = await this.#call(
        {
          method: 'POST',
          path: `/zones/${encodeURIComponent(zoneId)}/dns_records`,
          body: { type: 'TXT', ...record },
          role: 'apiToken',
          permission: 'DNS:Edit',
          action: `create TXT record at ${record.name}`,
        },
        signal,
      );
      const created = envelope.result as CloudflareDnsRecord | undefined;
      if (!created || typeof created.id !== 'string') {
        throw new CloudflareApiError(`cloudflare: create TXT record at ${record.name}: the answer holds no record id`, { retryable: true, details: { provider: 'cloudflare' } });
      }
      return created;
    } catch (error) {
      // A retried POST whose first attempt was applied lands here too: the record is there, which is what we wanted.
      if (error instanceof CloudflareApiError && error.cloudflareCodes.includes(CODES.identicalRecord)) return 'exists';
      throw error;
    }
  }

  /** Deletes a record by id. Resolves to `false` when it is already gone (code 81044, or a 404 not about the zone). */
  async deleteRecord(zoneId: string, recordId: string, name: string, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#call(
        {
          method: 'DELETE',
          path: `/zones/${encodeURIComponent(zoneId)}/dns_records/${encodeURIComponent(recordId)}`,
          role: 'apiToken',
          permission: 'DNS:Edit',
          action: `delete TXT record ${recordId} at ${name}`,
        },
        signal,
      );
      return true;
    } catch (error) {
      // A 404 about the zone (7003) is not "record gone": the zone id is wrong or stale, and the caller must hear it.
      const codes = error instanceof CloudflareApiError ? error.cloudflareCodes : [];
      if (error instanceof CloudflareApiError && (codes.includes(CODES.recordMissing) || (error.status === 404 && !codes.includes(CODES.invalidIdentifier)))) return false;
      throw error;
    }
  }

  /** GETs every page of a list endpoint (`page`, `per_page`, `result_info.total_pages`). */
  async #all<T>(call: Call, perPage: number, signal: AbortSignal): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const envelope = await this.#call({ ...call, query: { ...call.query, page: String(page), per_page: String(perPage) } }, signal);
      const batch = Array.isArray(envelope.result) ? (envelope.result as T[]) : [];
      items.push(...batch);
      const info = envelope.result_info;
      // The server may clamp per_page: compare with the size it says it used.
      const done = typeof info?.total_pages === 'number' ? page >= info.total_pages : batch.length < (info?.per_page ?? perPage);
      if (done || batch.length === 0) return items;
    }
    throw new CloudflareApiError(`cloudflare: ${call.action}: more than ${MAX_PAGES} pages, giving up`, { details: { provider: 'cloudflare', action: call.action } });
  }

  /** One API call with retries; resolves to a successful envelope or rejects with {@link CloudflareApiError} / {@link AbortError}. */
  async #call(call: Call, signal: AbortSignal): Promise<Envelope> {
    const url = `${this.#base}${call.path}${call.query && Object.keys(call.query).length ? `?${new URLSearchParams(call.query)}` : ''}`;
    const token = call.role === 'zoneToken' ? this.#zoneToken : this.#apiToken;
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json', 'user-agent': 'certpilot' };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw aborted(call, signal);
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      let failure: CloudflareApiError;
      let retryAfterMs: number | undefined;
      try {
        const response = await this.#fetch(url, {
          method: call.method,
          headers,
          body: call.body === undefined ? undefined : JSON.stringify(call.body),
          signal: AbortSignal.any([signal, timeout]),
        });
        const envelope = await readEnvelope(response);
        if (response.ok && envelope?.success !== false) return envelope ?? {};
        failure = apiError(call, response.status, envelope, [this.#apiToken, this.#zoneToken]);
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      } catch (error) {
        if (signal.aborted) throw aborted(call, signal);
        // Network failures and timeouts are retried even for POST: a create that was applied
        // answers 81058 on the retry, which createTxtRecord treats as success.
        const reason = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : describeFetchError(error, [this.#apiToken, this.#zoneToken]);
        failure = new CloudflareApiError(`cloudflare: ${call.action} failed: could not reach ${new URL(this.#base).origin}: ${reason}`, {
          retryable: true,
          details: { provider: 'cloudflare', action: call.action },
        });
      }
      if (!failure.retryable) throw failure;
      const waitMs = retryAfterMs ?? backoff(attempt);
      if (waitMs > MAX_RETRY_AFTER_MS) throw withNote(failure, `Cloudflare asks to wait ${Math.ceil(waitMs / 1000)} s before trying again`);
      if (attempt >= this.#maxRetries) throw withNote(failure, `gave up after ${attempt + 1} attempt${attempt ? 's' : ''}`);
      await sleep(waitMs, signal, () => aborted(call, signal));
    }
  }
}

/** The JSON envelope of a response, or undefined when the body is not one (an HTML error page from a proxy, …). */
async function readEnvelope(response: Response): Promise<Envelope | undefined> {
  const text = await response.text().catch(() => '');
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Envelope) : undefined;
  } catch {
    return undefined;
  }
}

/** `Retry-After` in milliseconds: delta-seconds (what Cloudflare sends) or an HTTP date. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function backoff(attempt: number): number {
  return retryDelay(attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
}


