/**
 * A small client for the Cloud DNS v1 REST API over `fetch`: the five calls
 * the provider needs, paging, retries of 429/5xx with backoff (honouring
 * `Retry-After`), and abort support. No Google SDK: the API is plain JSON and
 * the SDK would be one more optional dependency to install.
 */
import { retryDelay, sleep as wait } from '../../src/sleep.js';
import { AbortError, DnsError, scrub } from '../../src/errors.js';
import type { AccessTokenSource } from './auth.js';
import { CloudDnsError, errorFromResponse, retryAfterMs } from './errors.js';

/** A managed zone as `managedZones.list` returns it (the fields used here). */
export interface ManagedZone {
  /** The zone's resource name (`example-com`), used in URLs. */
  name: string;
  /** Its DNS name, FQDN with trailing dot. */
  dnsName: string;
  /** `public` or `private`; absent on old zones, which are public. */
  visibility?: string;
}

/** A resource record set; for TXT, `rrdatas` are quoted strings. */
export interface ResourceRecordSet {
  kind?: string;
  name: string;
  type: string;
  ttl?: number;
  rrdatas?: string[];
  signatureRrdatas?: string[];
}

/** A change; `status` is `pending` until every name server serves it, then `done`. */
export interface Change {
  id: string;
  status: string;
  additions?: ResourceRecordSet[];
  deletions?: ResourceRecordSet[];
}

/** Options of {@link CloudDnsClient}. */
export interface CloudDnsClientOptions {
  project: string;
  /** Base URL without the `/dns/v1` path. */
  endpoint: string;
  token: AccessTokenSource;
  fetch: typeof globalThis.fetch;
  /** Retries of one request after 429, 5xx or a network error. */
  maxRetries: number;
  /** Bound on each HTTP request. */
  requestTimeoutMs: number;
}

/** Longest backoff between two retries when the server does not say (`Retry-After`). */
const MAX_BACKOFF_MS = 10_000;
/** Longest `Retry-After` we wait out; beyond that the caller's own retry schedule is the better judge. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Typed Cloud DNS v1 calls for one project.
 *
 * @example
 * ```ts
 * const api = new CloudDnsClient({ project: 'p', endpoint: 'https://dns.googleapis.com', token, fetch, maxRetries: 5, requestTimeoutMs: 30_000 });
 * const zones = await api.listManagedZones({ dnsName: 'example.com.' }, signal);
 * ```
 */
export class CloudDnsClient {
  readonly #options: CloudDnsClientOptions;
  readonly #base: string;
  /** Tokens handed out so far, to redact should an answer ever echo one. */
  readonly #tokens = new Set<string>();

  constructor(options: CloudDnsClientOptions) {
    this.#options = options;
    this.#base = `${options.endpoint.replace(/\/+$/, '')}/dns/v1/projects/${encodeURIComponent(options.project)}`;
  }

  /** Every managed zone (all pages), optionally only those whose DNS name is `dnsName`. */
  async listManagedZones(filter: { dnsName?: string }, signal: AbortSignal): Promise<ManagedZone[]> {
    return this.#paged<ManagedZone>('/managedZones', 'managedZones', filter.dnsName ? { dnsName: filter.dnsName } : {}, 'list managed zones', signal);
  }

  /** One managed zone by resource name. */
  getManagedZone(zone: string, signal: AbortSignal): Promise<ManagedZone> {
    return this.#request<ManagedZone>('GET', `/managedZones/${encodeURIComponent(zone)}`, {}, undefined, `get managed zone ${zone}`, signal);
  }

  /** The record sets of `type` at `name` (FQDN) in `zone` (all pages; at most one set in practice). */
  listRecordSets(zone: string, filter: { name: string; type: string }, signal: AbortSignal): Promise<ResourceRecordSet[]> {
    return this.#paged<ResourceRecordSet>(`/managedZones/${encodeURIComponent(zone)}/rrsets`, 'rrsets', filter, `list ${filter.type} records at ${filter.name} in managed zone ${zone}`, signal);
  }

  /** Applies `additions` and `deletions` atomically; the answer is usually `pending`. */
  createChange(zone: string, change: { additions: ResourceRecordSet[]; deletions: ResourceRecordSet[] }, signal: AbortSignal): Promise<Change> {
    const name = change.additions[0]?.name ?? change.deletions[0]?.name;
    return this.#request<Change>('POST', `/managedZones/${encodeURIComponent(zone)}/changes`, {}, { kind: 'dns#change', ...change }, `change TXT records at ${name} in managed zone ${zone}`, signal);
  }

  /** A change's current state. */
  getChange(zone: string, id: string, signal: AbortSignal): Promise<Change> {
    return this.#request<Change>('GET', `/managedZones/${encodeURIComponent(zone)}/changes/${encodeURIComponent(id)}`, {}, undefined, `get change ${id} in managed zone ${zone}`, signal);
  }

  /**
   * Polls until `change` is `done`: polls start fast (changes often finish in
   * well under a second) and slow down to `intervalMs`.
   */
  async waitForChange(zone: string, change: Change, options: { intervalMs: number; timeoutMs: number }, signal: AbortSignal): Promise<Change> {
    const deadline = Date.now() + options.timeoutMs;
    let delay = Math.min(100, options.intervalMs);
    let current = change;
    while (current.status !== 'done') {
      if (Date.now() + delay > deadline) {
        throw new DnsError('DNS_PROVIDER_ERROR', `google-cloud-dns: change ${current.id} in managed zone ${zone} was still ${current.status} after ${options.timeoutMs} ms`, {
          retryable: true,
          details: { provider: 'google-cloud-dns', managedZone: zone, changeId: current.id },
        });
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, options.intervalMs);
      current = await this.getChange(zone, current.id, signal);
    }
    return current;
  }

  async #paged<T>(path: string, field: string, query: Record<string, string>, what: string, signal: AbortSignal): Promise<T[]> {
    const items: T[] = [];
    const seen = new Set<string>();
    let pageToken: string | undefined;
    do {
      const page = await this.#request<Record<string, unknown>>('GET', path, pageToken ? { ...query, pageToken } : query, undefined, what, signal);
      const list = page[field];
      if (Array.isArray(list)) items.push(...(list as T[]));
      pageToken = typeof page.nextPageToken === 'string' && page.nextPageToken ? page.nextPageToken : undefined;
      // A server that hands out the same token twice would keep us paging forever.
      if (pageToken && seen.has(pageToken)) throw new CloudDnsError(`google-cloud-dns: ${what} returned the same page token twice`, 502, undefined, {});
      if (pageToken) seen.add(pageToken);
    } while (pageToken);
    return items;
  }

  async #request<T>(method: string, path: string, query: Record<string, string>, body: unknown, what: string, signal: AbortSignal): Promise<T> {
    const url = new URL(`${this.#base}${path}`);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const { maxRetries, requestTimeoutMs } = this.#options;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw aborted(what, signal);
      const token = await this.#options.token();
      this.#tokens.add(token);
      if (signal.aborted) throw aborted(what, signal);
      const timeout = AbortSignal.timeout(requestTimeoutMs);
      let response: Response;
      try {
        response = await this.#options.fetch(url, {
          method,
          headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.any([signal, timeout]),
        });
      } catch (error) {
        if (signal.aborted) throw aborted(what, signal);
        const reason = timeout.aborted ? `no answer within ${requestTimeoutMs} ms` : this.#redact(describeFetchError(error));
        const failure = new CloudDnsError(`google-cloud-dns: ${what} failed: ${reason} (${url.origin})`, 0, undefined, {});
        if (attempt >= maxRetries) throw failure;
        await sleep(backoff(attempt), signal);
        continue;
      }
      if (response.ok) return (await response.json()) as T;
      const error = await errorFromResponse(response, what, { project: this.#options.project, redact: (text) => this.#redact(text) });
      if (!error.retryable || attempt >= maxRetries) throw error;
      const asked = retryAfterMs(response.headers.get('retry-after'));
      if (asked !== undefined && asked > MAX_RETRY_AFTER_MS) throw error;
      await sleep(asked ?? backoff(attempt), signal);
    }
  }

  #redact(text: string): string {
    let out = text;
    for (const token of this.#tokens) out = out.split(token).join('[redacted]');
    return out;
  }
}

/** Exponential backoff with jitter: 200 ms, 400 ms, … up to {@link MAX_BACKOFF_MS}. */
function backoff(attempt: number): number {
  return retryDelay(attempt, 200, MAX_BACKOFF_MS);
}

function aborted(what: string, signal: AbortSignal): AbortError {
  return new AbortError(`google-cloud-dns: ${what} was aborted`, { cause: signal.reason });
}

/** Waits `ms`, rejecting with an AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, signal, () => new AbortError('google-cloud-dns: the wait was aborted', { cause: signal.reason }));
}

/** fetch() hides the socket error in `cause` (ECONNREFUSED, …): surface it. */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  return scrub(cause?.message ?? (error instanceof Error ? error.message : String(error)));
}
