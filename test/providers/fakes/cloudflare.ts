/**
 * A wire-faithful fake of the part of the Cloudflare API v4 the provider
 * uses, on 127.0.0.1: bearer tokens with Zone:Read / DNS:Edit grants,
 * `GET /zones` (name filter, paging), `GET|POST /zones/:id/dns_records`
 * (type/name/content filters — case-insensitive like the real ones —,
 * paging, 81058 for an identical record), `DELETE …/dns_records/:id` (81044
 * when missing), the `{ success, errors, messages, result, result_info }`
 * envelope, a rate limit answering 429 with `Retry-After`, and eventual
 * consistency: a change reaches the DNS server (challtestsrv, through a
 * publisher) only after a delay.
 *
 * Deliberate differences, for tests: the page size can be forced small
 * (`maxPerPage`, below Cloudflare's minimum of 5) so paging is exercised
 * with a few records, and only TXT records exist.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { DnsPublisher } from '../../helpers/dns-publisher.js';

/** A grant of a fake API token. */
export type FakePermission = 'zone:read' | 'dns:read' | 'dns:edit';

/** A fake API token: its grants, optionally limited to some zones (by name). */
export interface FakeToken {
  permissions: FakePermission[];
  /** Zone names this token may use. @default every zone */
  zones?: string[];
}

/** A zone of the fake account. */
export interface FakeZone {
  name: string;
  /** @default 32 random hex digits */
  id?: string;
  /** @default 'active' */
  status?: 'active' | 'pending' | 'moved';
}

/** Options of {@link startFakeCloudflare}. */
export interface FakeCloudflareOptions {
  zones: (string | FakeZone)[];
  /** Token → grants. */
  tokens: Record<string, FakeToken>;
  /** Where TXT sets are published (challtestsrv); none → nothing is published. */
  publisher?: DnsPublisher;
  /** Delay between a change and its publication. @default 100 */
  publishDelayMs?: number;
  /**
   * Delay before a deletion is published; 0 publishes it before the DELETE
   * is answered (read-your-deletes), for suites that check absence at once.
   * @default publishDelayMs
   */
  removalDelayMs?: number;
  /** Page size when the client sends no `per_page`. @default 3 (Cloudflare: zones 20, records 100) */
  defaultPerPage?: number;
  /** Upper bound on `per_page` (the fake clamps). @default Cloudflare's own: zones 50, records 5000000 */
  maxPerPage?: number;
  /** Answer every `every`-th request with 429 (code 971) and this `Retry-After`. */
  rateLimit?: { every: number; retryAfterSeconds?: number };
}

/** A DNS record as the fake stores it. */
export interface FakeRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: 'TXT';
  content: string;
  ttl: number;
  comment: string | null;
  proxiable: false;
  proxied: false;
  created_on: string;
  modified_on: string;
}

/** One request the fake answered. */
export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The bearer token sent (tests check which token was used for what). */
  token: string | undefined;
  body: unknown;
  status: number;
}

/** A running fake. */
export interface FakeCloudflare {
  /** The API base, to pass as `endpoint`. */
  endpoint: string;
  /** Every request, in order. */
  requests: FakeRequest[];
  /** Out-of-band access to the store (records "someone else" made, injected failures). */
  backdoor: {
    /** Creates a TXT record with raw `content` (quote it yourself, or not, like a person in the dashboard). */
    addRecord(zone: string, name: string, content: string): FakeRecord;
    /** Records of a zone (all zones when omitted). */
    records(zone?: string): FakeRecord[];
    /** The id of a zone by name. */
    zoneId(zone: string): string;
    /** Deletes and re-adds a zone: it gets a new id and no records, as on Cloudflare. Returns the new id. */
    recreateZone(zone: string): string;
    /** The next `count` API requests answer `status` (429 gets `Retry-After: retryAfterSeconds`). */
    failNext(count: number, status: number, retryAfterSeconds?: number): void;
  };
  /** Resolves when every scheduled publication has reached the DNS server. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

interface ApiError {
  code: number;
  message: string;
  error_chain?: ApiError[];
}

class HttpError extends Error {
  constructor(readonly status: number, readonly errors: ApiError[], readonly headers: Record<string, string> = {}) {
    super(errors.map((e) => e.message).join('; '));
  }
}

const AUTH_ERROR: ApiError = { code: 10000, message: 'Authentication error' };
const hex32 = () => randomBytes(16).toString('hex');
const bare = (name: string) => name.trim().toLowerCase().replace(/\.+$/, '');

/** Starts the fake on a free 127.0.0.1 port. */
export async function startFakeCloudflare(options: FakeCloudflareOptions): Promise<FakeCloudflare> {
  const zones = options.zones.map((z) => (typeof z === 'string' ? { name: z } : z)).map((z) => ({ id: z.id ?? hex32(), name: bare(z.name), status: z.status ?? 'active' }));
  const records: FakeRecord[] = [];
  const requests: FakeRequest[] = [];
  const injected: { status: number; retryAfter?: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const inflight = new Set<Promise<void>>();
  let counter = 0;

  const zoneById = (id: string) => zones.find((z) => z.id === id);
  const zoneByName = (name: string) => {
    const zone = zones.find((z) => z.name === bare(name));
    if (!zone) throw new Error(`fake cloudflare: no zone ${name}`);
    return zone;
  };

  /** What DNS serves for a record's content: the quoted strings joined, or the text as written. */
  function served(content: string): string {
    const strings = content.match(/"((?:[^"\\]|\\.)*)"/g);
    if (!content.trim().startsWith('"') || !strings) return content;
    return strings.map((s) => s.slice(1, -1).replace(/\\(.)/g, '$1')).join('');
  }

  /** The set last sent per name: the publisher clears before it sets, so re-sending an unchanged set would make DNS blink empty. */
  const lastPublished = new Map<string, string>();

  /** Publishes the current TXT set of `name` now (resolves when DNS has it). */
  function publishNow(name: string): Promise<void> {
    const { publisher } = options;
    if (!publisher) return Promise.resolve();
    const values = records.filter((r) => r.name === name).map((r) => served(r.content));
    const key = JSON.stringify([...values].sort());
    if (lastPublished.get(name) === key) return Promise.resolve();
    lastPublished.set(name, key);
    const run = publisher.publish(name, values).catch(() => undefined);
    inflight.add(run);
    void run.finally(() => inflight.delete(run));
    return run;
  }

  /** Publishes the current TXT set of `name` after `delayMs` (eventual consistency); 0 → now, awaited by the caller. */
  function schedule(name: string, delayMs = options.publishDelayMs ?? 100): Promise<void> {
    if (!options.publisher) return Promise.resolve();
    if (delayMs <= 0) return publishNow(name);
    const timer = setTimeout(() => {
      timers.delete(timer);
      void publishNow(name);
    }, delayMs);
    timers.add(timer);
    return Promise.resolve();
  }

  function insert(zone: { id: string; name: string }, body: { name: string; content: string; ttl?: number; comment?: string }): FakeRecord {
    const now = new Date().toISOString();
    const record: FakeRecord = {
      id: hex32(), zone_id: zone.id, zone_name: zone.name, name: body.name, type: 'TXT', content: body.content,
      ttl: body.ttl ?? 1, comment: body.comment ?? null, proxiable: false, proxied: false, created_on: now, modified_on: now,
    };
    records.push(record);
    void schedule(record.name);
    return record;
  }

  function authorize(token: string | undefined, need: FakePermission[], zone?: { name: string }): void {
    if (token === undefined) {
      throw new HttpError(400, [{ code: 6003, message: 'Invalid request headers', error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }] }]);
    }
    const grant = options.tokens[token];
    if (!grant) throw new HttpError(401, [AUTH_ERROR]);
    if (!need.some((p) => grant.permissions.includes(p))) throw new HttpError(403, [AUTH_ERROR]);
    if (zone && grant.zones && !grant.zones.map(bare).includes(zone.name)) throw new HttpError(403, [AUTH_ERROR]);
  }

  function page<T>(items: T[], query: Record<string, string>, realMax: number) {
    const max = Math.min(realMax, options.maxPerPage ?? realMax);
    const requested = query.per_page === undefined ? (options.defaultPerPage ?? 3) : Number(query.per_page);
    const pageNo = query.page === undefined ? 1 : Number(query.page);
    if (!Number.isInteger(requested) || requested < 1 || !Number.isInteger(pageNo) || pageNo < 1) {
      throw new HttpError(400, [{ code: 1001, message: 'Invalid pagination parameters' }]);
    }
    const perPage = Math.min(requested, max);
    const slice = items.slice((pageNo - 1) * perPage, pageNo * perPage);
    return {
      result: slice,
      result_info: { page: pageNo, per_page: perPage, count: slice.length, total_count: items.length, total_pages: Math.max(1, Math.ceil(items.length / perPage)) },
    };
  }

  /** `name`/`content` are aliases of `name.exact`/`content.exact`; all filters ignore case, as Cloudflare documents. */
  function matches(value: string, query: Record<string, string>, field: 'name' | 'content'): boolean {
    const v = value.toLowerCase();
    const exact = query[`${field}.exact`] ?? query[field];
    if (exact !== undefined && v !== exact.toLowerCase()) return false;
    if (query[`${field}.contains`] !== undefined && !v.includes(query[`${field}.contains`]!.toLowerCase())) return false;
    if (query[`${field}.startswith`] !== undefined && !v.startsWith(query[`${field}.startswith`]!.toLowerCase())) return false;
    if (query[`${field}.endswith`] !== undefined && !v.endsWith(query[`${field}.endswith`]!.toLowerCase())) return false;
    return true;
  }

  type Answer = { status: number; payload: object; published?: Promise<void> };

  function route(method: string, path: string, query: Record<string, string>, token: string | undefined, body: unknown): Answer {
    if (method === 'GET' && path === '/zones') {
      authorize(token, ['zone:read']);
      const grant = options.tokens[token!]!;
      const visible = zones.filter((z) => (!grant.zones || grant.zones.map(bare).includes(z.name)) && (query.name === undefined || z.name === bare(query.name)) && (query.status === undefined || z.status === query.status));
      return { status: 200, payload: page(visible.map((z) => ({ id: z.id, name: z.name, status: z.status, paused: false, type: 'full' })), query, 50) };
    }
    const match = /^\/zones\/([^/]+)\/dns_records(?:\/([^/]+))?$/.exec(path);
    if (!match) throw new HttpError(404, [{ code: 7000, message: 'No route for that URI' }]);
    const zone = zoneById(decodeURIComponent(match[1]!));
    if (!zone) throw new HttpError(404, [{ code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` }]);
    const recordId = match[2] === undefined ? undefined : decodeURIComponent(match[2]);

    if (method === 'GET' && recordId === undefined) {
      authorize(token, ['dns:read', 'dns:edit'], zone);
      const found = records.filter((r) => r.zone_id === zone.id && (query.type === undefined || r.type === query.type.toUpperCase()) && matches(r.name, query, 'name') && matches(r.content, query, 'content'));
      return { status: 200, payload: page(found, query, 5_000_000) };
    }
    if (method === 'POST' && recordId === undefined) {
      authorize(token, ['dns:edit'], zone);
      const b = (body ?? {}) as { type?: string; name?: string; content?: string; ttl?: number; comment?: string };
      if (b.type !== 'TXT') throw new HttpError(400, [{ code: 1004, message: 'DNS Validation Error', error_chain: [{ code: 9000, message: 'this fake only knows TXT records' }] }]);
      if (typeof b.content !== 'string' || b.content === '') throw new HttpError(400, [{ code: 1004, message: 'DNS Validation Error', error_chain: [{ code: 9007, message: 'content is required' }] }]);
      if (b.ttl !== undefined && b.ttl !== 1 && !(Number.isInteger(b.ttl) && b.ttl >= 60 && b.ttl <= 86_400)) {
        throw new HttpError(400, [{ code: 1004, message: 'DNS Validation Error', error_chain: [{ code: 9021, message: 'Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.' }] }]);
      }
      // Like Cloudflare: '@' is the apex, a name outside the zone gets the zone appended.
      const raw = bare(b.name ?? '@');
      const name = raw === '@' || raw === '' ? zone.name : raw === zone.name || raw.endsWith(`.${zone.name}`) ? raw : `${raw}.${zone.name}`;
      if (records.some((r) => r.zone_id === zone.id && r.type === 'TXT' && r.name === name && r.content === b.content)) {
        throw new HttpError(400, [{ code: 81058, message: 'An identical record already exists.' }]);
      }
      return { status: 200, payload: { result: insert(zone, { name, content: b.content, ttl: b.ttl, comment: b.comment }) } };
    }
    if (method === 'DELETE' && recordId !== undefined) {
      authorize(token, ['dns:edit'], zone);
      const index = records.findIndex((r) => r.zone_id === zone.id && r.id === recordId);
      if (index === -1) throw new HttpError(404, [{ code: 81044, message: 'Record does not exist.' }]);
      const [removed] = records.splice(index, 1);
      const published = schedule(removed!.name, options.removalDelayMs ?? options.publishDelayMs ?? 100);
      return { status: 200, payload: { result: { id: removed!.id } }, published };
    }
    throw new HttpError(405, [{ code: 10405, message: 'Method not allowed for api_token authentication scheme' }]);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const path = url.pathname.replace(/^\/client\/v4/, '').replace(/\/+$/, '') || '/';
      const query = Object.fromEntries(url.searchParams);
      const auth = req.headers.authorization;
      const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
      let body: unknown;
      let status = 200;
      let payload: object;
      let published: Promise<void> | undefined;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      try {
        if (chunks.length) {
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            throw new HttpError(400, [{ code: 6007, message: 'Malformed JSON in request body' }]);
          }
        }
        counter++;
        const injectedFailure = injected.shift();
        if (injectedFailure) {
          const retry: Record<string, string> = injectedFailure.status === 429 ? { 'retry-after': String(injectedFailure.retryAfter ?? 1) } : {};
          throw new HttpError(injectedFailure.status, [injectedFailure.status === 429 ? { code: 971, message: 'Please wait and consider throttling your request speed' } : { code: 10001, message: 'service temporarily unavailable' }], retry);
        }
        if (options.rateLimit && counter % options.rateLimit.every === 0) {
          throw new HttpError(429, [{ code: 971, message: 'Please wait and consider throttling your request speed' }], { 'retry-after': String(options.rateLimit.retryAfterSeconds ?? 1) });
        }
        ({ status, payload, published } = route(req.method ?? 'GET', path, query, token, body));
        payload = { success: true, errors: [], messages: [], ...payload };
      } catch (error) {
        const e = error instanceof HttpError ? error : new HttpError(500, [{ code: 10002, message: String(error) }]);
        status = e.status;
        Object.assign(headers, e.headers);
        payload = { success: false, errors: e.errors, messages: [], result: null };
      }
      requests.push({ method: req.method ?? 'GET', path, query, token, body, status });
      await published;
      res.writeHead(status, headers).end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  async function settled(): Promise<void> {
    while (timers.size || inflight.size) await new Promise((r) => setTimeout(r, 20));
  }

  return {
    endpoint: `http://127.0.0.1:${port}/client/v4`,
    requests,
    backdoor: {
      addRecord: (zone, name, content) => insert(zoneByName(zone), { name: bare(name), content, ttl: 60 }),
      records: (zone) => records.filter((r) => zone === undefined || r.zone_name === bare(zone)).map((r) => ({ ...r })),
      zoneId: (zone) => zoneByName(zone).id,
      recreateZone: (zone) => {
        const z = zoneByName(zone);
        for (let i = records.length - 1; i >= 0; i--) if (records[i]!.zone_id === z.id) records.splice(i, 1);
        z.id = hex32();
        return z.id;
      },
      failNext: (count, status, retryAfter) => { for (let i = 0; i < count; i++) injected.push({ status, retryAfter }); },
    },
    settled,
    async close() {
      await settled();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
