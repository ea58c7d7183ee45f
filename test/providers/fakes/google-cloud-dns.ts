/**
 * A wire-faithful fake of the Cloud DNS v1 REST API on 127.0.0.1, for the
 * google-cloud-dns provider tests. It implements the calls the provider
 * makes, with the semantics that matter for correctness:
 * - Bearer token check (401 authError, Google JSON error body);
 * - managedZones.list with the exact `dnsName` filter and small pages;
 * - resourceRecordSets.list with `name`/`type` filters and paging (apex SOA and NS sets included);
 * - changes.create: deletions must match the current set exactly (404
 *   notFound when absent, 412 conditionNotMet when different), additions of
 *   an existing set are 409 alreadyExists, the whole change is atomic;
 * - changes.get: `pending` for `pendingMs`, then `done`;
 * - an optional rate limit answering 429 rateLimitExceeded;
 * - an STS token endpoint (`POST /v1/token`) so google-auth-library's
 *   external-account credentials can mint tokens without the internet.
 * When a change in a public zone becomes done, the fake publishes the TXT
 * sets it touched into challtestsrv, so DNS answers what the API holds.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DnsPublisher } from '../../helpers/dns-publisher.js';

/** A managed zone of the fake. */
export interface FakeZone {
  name: string;
  dnsName: string;
  /** @default 'public' */
  visibility?: 'public' | 'private';
}

/** A record set as the API represents it. */
export interface FakeRrset {
  kind: 'dns#resourceRecordSet';
  name: string;
  type: string;
  ttl: number;
  rrdatas: string[];
}

/** Options of {@link startFakeGoogleCloudDns}. */
export interface FakeGoogleCloudDnsOptions {
  /** @default 'certpilot-test' */
  project?: string;
  /** Accepted bearer tokens. @default ['fake-token'] */
  tokens?: string[];
  zones: FakeZone[];
  /** Where TXT sets of public zones are published when a change is done. */
  publisher?: DnsPublisher;
  /** Items per page of every list call. @default 2 */
  pageSize?: number;
  /** How long a change stays `pending`. @default 0 (done at once) */
  pendingMs?: number;
  /** At most `limit` API requests per `windowMs`; more are answered 429 (not counted). */
  rateLimit?: { limit: number; windowMs: number; retryAfterSeconds?: number };
  /** Misbehave like a leaky proxy: echo the Authorization header in error messages. */
  echoAuthorization?: boolean;
}

/** A running fake. Options other than `project` and `zones` can be changed while it runs. */
export interface FakeGoogleCloudDns {
  /** `http://127.0.0.1:PORT`, the provider's `endpoint`. */
  endpoint: string;
  project: string;
  /** The first accepted token. */
  token: string;
  options: FakeGoogleCloudDnsOptions;
  stats: { requests: number; rateLimited: number; preconditionFailed: number; alreadyExists: number; changes: number; stsExchanges: number };
  /** Every API request (method and path with query), in order. */
  log: string[];
  /** Accepts another bearer token. */
  acceptToken(token: string): void;
  /** The raw rrdatas of the TXT set at `fqdn` in managed zone `zone` (undefined when there is none). */
  txt(zone: string, fqdn: string): FakeRrset | undefined;
  /** Adds `rrdata` (raw, e.g. `"value"`) to the TXT set at `fqdn` out of band, as another tool would, and publishes it. */
  addForeignRrdata(zone: string, fqdn: string, rrdata: string, ttl?: number): Promise<void>;
  /** Runs `hook` when the next changes.create arrives, before it is evaluated (simulates a concurrent writer). */
  beforeNextChange(hook: () => void | Promise<void>): void;
  close(): Promise<void>;
}

interface ZoneState extends Required<FakeZone> {
  id: string;
  rrsets: Map<string, FakeRrset>;
  changes: Map<string, { id: string; status: 'pending' | 'done'; startTime: string; additions: FakeRrset[]; deletions: FakeRrset[] }>;
}

class ApiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly status: string) {
    super(message);
  }
}

const key = (name: string, type: string) => `${name.toLowerCase()}|${type.toUpperCase()}`;
const fqdnOf = (name: string) => (name.endsWith('.') ? name : `${name}.`).toLowerCase();

/** Starts the fake on a free port of 127.0.0.1. */
export async function startFakeGoogleCloudDns(options: FakeGoogleCloudDnsOptions): Promise<FakeGoogleCloudDns> {
  const project = options.project ?? 'certpilot-test';
  const tokens = new Set(options.tokens ?? ['fake-token']);
  const zones = new Map<string, ZoneState>();
  let nextId = 1000;
  for (const z of options.zones) {
    const dnsName = fqdnOf(z.dnsName);
    const rrsets = new Map<string, FakeRrset>();
    rrsets.set(key(dnsName, 'SOA'), { kind: 'dns#resourceRecordSet', name: dnsName, type: 'SOA', ttl: 21600, rrdatas: [`ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300`] });
    rrsets.set(key(dnsName, 'NS'), { kind: 'dns#resourceRecordSet', name: dnsName, type: 'NS', ttl: 21600, rrdatas: ['ns-cloud-a1.googledomains.com.', 'ns-cloud-a2.googledomains.com.'] });
    zones.set(z.name, { name: z.name, dnsName, visibility: z.visibility ?? 'public', id: String(nextId++), rrsets, changes: new Map() });
  }
  const stats = { requests: 0, rateLimited: 0, preconditionFailed: 0, alreadyExists: 0, changes: 0, stsExchanges: 0 };
  const log: string[] = [];
  const recent: number[] = [];
  const hooks: (() => void | Promise<void>)[] = [];
  let changeSeq = 0;
  const timers = new Set<NodeJS.Timeout>();

  async function publish(zone: ZoneState, names: Iterable<string>): Promise<void> {
    if (zone.visibility !== 'public' || !options.publisher) return;
    for (const name of new Set(names)) {
      const set = zone.rrsets.get(key(name, 'TXT'));
      await options.publisher.publish(name, (set?.rrdatas ?? []).map(txtValue));
    }
  }

  function page<T>(items: T[], url: URL): { items: T[]; nextPageToken?: string } {
    const size = Math.max(1, Math.min(options.pageSize ?? 2, Number(url.searchParams.get('maxResults') ?? Infinity)));
    const tokenParam = url.searchParams.get('pageToken');
    const offset = tokenParam ? Number(Buffer.from(tokenParam, 'base64url').toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0 || offset > items.length) throw new ApiError(400, 'invalid', 'Invalid value for pageToken', 'INVALID_ARGUMENT');
    const slice = items.slice(offset, offset + size);
    const next = offset + size < items.length ? Buffer.from(String(offset + size)).toString('base64url') : undefined;
    return { items: slice, ...(next ? { nextPageToken: next } : {}) };
  }

  function zoneResource(z: ZoneState) {
    return { kind: 'dns#managedZone', name: z.name, dnsName: z.dnsName, description: '', id: z.id, nameServers: ['ns-cloud-a1.googledomains.com.', 'ns-cloud-a2.googledomains.com.'], creationTime: '2026-01-01T00:00:00.000Z', visibility: z.visibility };
  }

  function getZone(name: string): ZoneState {
    const zone = zones.get(name);
    if (!zone) throw new ApiError(404, 'notFound', `The 'parameters.managedZone' resource named '${name}' does not exist.`, 'NOT_FOUND');
    return zone;
  }

  function validateRrset(raw: unknown, where: string, zone: ZoneState, addition: boolean): FakeRrset {
    const r = raw as Partial<FakeRrset> | null;
    if (!r || typeof r.name !== 'string' || typeof r.type !== 'string') throw new ApiError(400, 'required', `Required value for '${where}.name' or '${where}.type' is missing.`, 'INVALID_ARGUMENT');
    if (!r.name.endsWith('.')) throw new ApiError(400, 'invalid', `Invalid value for '${where}.name': '${r.name}'`, 'INVALID_ARGUMENT');
    const name = r.name.toLowerCase();
    if (name !== zone.dnsName && !name.endsWith(`.${zone.dnsName}`)) {
      throw new ApiError(400, 'invalid', `The resource record set '${where}' is invalid because the DNS name '${r.name}' is not within the zone '${zone.dnsName}'.`, 'INVALID_ARGUMENT');
    }
    if (!Array.isArray(r.rrdatas) || (addition && r.rrdatas.length === 0)) throw new ApiError(400, 'required', `Required value for '${where}.rrdata' is missing.`, 'INVALID_ARGUMENT');
    if (addition && (typeof r.ttl !== 'number' || r.ttl < 0)) throw new ApiError(400, 'invalid', `Invalid value for '${where}.ttl'`, 'INVALID_ARGUMENT');
    if (r.type.toUpperCase() === 'TXT' && addition) {
      r.rrdatas.forEach((rrdata, i) => {
        if (!validTxt(rrdata)) throw new ApiError(400, 'invalid', `Invalid value for '${where}.rrdata[${i}]': '${rrdata}'`, 'INVALID_ARGUMENT');
      });
      if (new Set(r.rrdatas.map(txtValue)).size !== r.rrdatas.length) throw new ApiError(400, 'invalid', `The resource record set '${where}' contains duplicate records.`, 'INVALID_ARGUMENT');
    }
    return { kind: 'dns#resourceRecordSet', name, type: r.type.toUpperCase(), ttl: r.ttl ?? -1, rrdatas: [...r.rrdatas] };
  }

  async function createChange(zone: ZoneState, body: unknown) {
    const hook = hooks.shift();
    if (hook) await hook();
    const b = (body ?? {}) as { additions?: unknown[]; deletions?: unknown[] };
    const deletions = (b.deletions ?? []).map((r, i) => validateRrset(r, `entity.change.deletions[${i}]`, zone, false));
    const additions = (b.additions ?? []).map((r, i) => validateRrset(r, `entity.change.additions[${i}]`, zone, true));
    if (!deletions.length && !additions.length) throw new ApiError(400, 'required', "The 'entity.change' resource is missing additions and deletions.", 'INVALID_ARGUMENT');
    // Evaluate against a copy: the change applies entirely or not at all.
    const next = new Map(zone.rrsets);
    deletions.forEach((d, i) => {
      const existing = next.get(key(d.name, d.type));
      if (!existing) throw new ApiError(404, 'notFound', `The 'entity.change.deletions[${i}]' resource named '${d.name} (${d.type})' does not exist.`, 'NOT_FOUND');
      const same = (d.ttl === -1 || d.ttl === existing.ttl) && sameMultiset(d.rrdatas, existing.rrdatas);
      if (!same) {
        stats.preconditionFailed++;
        throw new ApiError(412, 'conditionNotMet', `Precondition not met for 'entity.change.deletions[${i}]'`, 'FAILED_PRECONDITION');
      }
      next.delete(key(d.name, d.type));
    });
    additions.forEach((a, i) => {
      if (next.has(key(a.name, a.type))) {
        stats.alreadyExists++;
        throw new ApiError(409, 'alreadyExists', `The resource 'entity.change.additions[${i}]' named '${a.name} (${a.type})' already exists`, 'ALREADY_EXISTS');
      }
      next.set(key(a.name, a.type), a);
    });
    zone.rrsets = next;
    stats.changes++;
    const change = { id: String(++changeSeq), status: 'pending' as 'pending' | 'done', startTime: new Date().toISOString(), additions, deletions };
    zone.changes.set(change.id, change);
    const touched = [...additions, ...deletions].filter((r) => r.type === 'TXT').map((r) => r.name);
    const finish = async () => {
      // Published before `done`: a client that saw `done` may expect DNS to answer.
      await publish(zone, touched);
      change.status = 'done';
    };
    const pendingMs = options.pendingMs ?? 0;
    if (pendingMs <= 0) await finish();
    else {
      const timer = setTimeout(() => { timers.delete(timer); void finish(); }, pendingMs);
      timers.add(timer);
    }
    return { kind: 'dns#change', ...change };
  }

  async function route(req: http.IncomingMessage, url: URL, body: unknown): Promise<unknown> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // dns / v1 / projects / {project} / managedZones [/ {zone} [/ rrsets | changes [/ {id}]]]
    if (parts[0] !== 'dns' || parts[1] !== 'v1' || parts[2] !== 'projects' || parts[4] !== 'managedZones') throw new ApiError(404, 'notFound', 'Not Found', 'NOT_FOUND');
    if (parts[3] !== project) throw new ApiError(404, 'notFound', `The 'parameters.project' resource named '${parts[3]}' does not exist.`, 'NOT_FOUND');
    const method = req.method ?? 'GET';
    if (parts.length === 5 && method === 'GET') {
      const dnsName = url.searchParams.get('dnsName');
      const all = [...zones.values()].filter((z) => dnsName === null || z.dnsName === dnsName.toLowerCase());
      const { items, nextPageToken } = page(all.map(zoneResource), url);
      return { kind: 'dns#managedZonesListResponse', managedZones: items, ...(nextPageToken ? { nextPageToken } : {}) };
    }
    const zone = getZone(parts[5]!);
    if (parts.length === 6 && method === 'GET') return zoneResource(zone);
    if (parts[6] === 'rrsets' && parts.length === 7 && method === 'GET') {
      const name = url.searchParams.get('name');
      const type = url.searchParams.get('type');
      if (type !== null && name === null) throw new ApiError(400, 'invalid', "The 'parameters.name' parameter must be present when 'parameters.type' is.", 'INVALID_ARGUMENT');
      const sets = [...zone.rrsets.values()]
        .filter((r) => (name === null || r.name === fqdnOf(name)) && (type === null || r.type === type.toUpperCase()))
        .sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
      const { items, nextPageToken } = page(sets, url);
      return { kind: 'dns#resourceRecordSetsListResponse', rrsets: items, ...(nextPageToken ? { nextPageToken } : {}) };
    }
    if (parts[6] === 'changes' && parts.length === 7 && method === 'POST') return createChange(zone, body);
    if (parts[6] === 'changes' && parts.length === 8 && method === 'GET') {
      const change = zone.changes.get(parts[7]!);
      if (!change) throw new ApiError(404, 'notFound', `The 'parameters.changeId' resource named '${parts[7]}' does not exist.`, 'NOT_FOUND');
      return { kind: 'dns#change', ...change };
    }
    throw new ApiError(404, 'notFound', 'Not Found', 'NOT_FOUND');
  }

  function sts(res: http.ServerResponse): void {
    stats.stsExchanges++;
    const token = `sts-token-${stats.stsExchanges}`;
    tokens.add(token);
    send(res, 200, { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (req.method === 'POST' && url.pathname === '/v1/token') return sts(res);
        stats.requests++;
        log.push(`${req.method} ${url.pathname}${url.search}`);
        const authorization = req.headers.authorization ?? '';
        const leak = options.echoAuthorization ? ` (credential sent: ${authorization.replace(/^Bearer /, '')})` : '';
        try {
          const token = /^Bearer (.+)$/.exec(authorization)?.[1];
          if (!token || !tokens.has(token)) {
            throw new ApiError(401, 'authError', `Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.${leak}`, 'UNAUTHENTICATED');
          }
          const limit = options.rateLimit;
          if (limit) {
            const now = Date.now();
            while (recent.length && recent[0]! <= now - limit.windowMs) recent.shift();
            if (recent.length >= limit.limit) {
              stats.rateLimited++;
              if (limit.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(limit.retryAfterSeconds));
              throw new ApiError(429, 'rateLimitExceeded', `Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service 'dns.googleapis.com'.${leak}`, 'RESOURCE_EXHAUSTED');
            }
            recent.push(now);
          }
          let body: unknown;
          if (chunks.length) {
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              throw new ApiError(400, 'parseError', 'Parse Error', 'INVALID_ARGUMENT');
            }
          }
          send(res, 200, await route(req, url, body));
        } catch (error) {
          if (!(error instanceof ApiError)) {
            send(res, 500, { error: { code: 500, message: String(error), errors: [{ reason: 'backendError', domain: 'global', message: String(error) }], status: 'INTERNAL' } });
          } else if (error.message === 'Not Found') {
            res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>Not Found</body></html>');
          } else {
            const message = leak && !error.message.includes(leak) ? `${error.message}${leak}` : error.message;
            send(res, error.code, { error: { code: error.code, message, errors: [{ message, domain: 'global', reason: error.reason }], status: error.status } });
          }
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    project,
    token: [...tokens][0]!,
    options,
    stats,
    log,
    acceptToken: (token) => { tokens.add(token); },
    txt: (zone, fqdn) => getZone(zone).rrsets.get(key(fqdnOf(fqdn), 'TXT')),
    async addForeignRrdata(zone, fqdn, rrdata, ttl = 300) {
      const z = getZone(zone);
      const name = fqdnOf(fqdn);
      const existing = z.rrsets.get(key(name, 'TXT'));
      const next = new Map(z.rrsets);
      next.set(key(name, 'TXT'), { kind: 'dns#resourceRecordSet', name, type: 'TXT', ttl: existing?.ttl ?? ttl, rrdatas: [...(existing?.rrdatas ?? []), rrdata] });
      z.rrsets = next;
      await publish(z, [name]);
    },
    beforeNextChange: (hook) => { hooks.push(hook); },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

function sameMultiset(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = (x: string[]) => [...x].sort().join('\u0000');
  return sorted(a) === sorted(b);
}

/**
 * The character-strings of a TXT rrdata (zone-file syntax), or undefined when
 * it is malformed or a string exceeds 255 bytes. Written independently of the
 * provider's own quoting so the fake checks it rather than mirrors it.
 */
function characterStrings(rrdata: string): Buffer[] | undefined {
  const out: Buffer[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|([^\s"]+)|(\s+)/gsy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(rrdata))) {
    consumed = re.lastIndex;
    if (m[3] !== undefined) continue;
    const body = m[1] ?? m[2]!;
    const bytes: number[] = [];
    for (let i = 0; i < body.length; i++) {
      if (body[i] === '\\') {
        const dec = /^\d{3}/.exec(body.slice(i + 1));
        if (dec) { bytes.push(Number(dec[0])); i += 3; continue; }
        i++;
      }
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch));
      i += ch.length - 1;
    }
    if (bytes.length > 255) return undefined;
    out.push(Buffer.from(bytes));
  }
  return consumed === rrdata.length && out.length ? out : undefined;
}

function validTxt(rrdata: string): boolean {
  return characterStrings(rrdata) !== undefined;
}

/** What a DNS client sees for one TXT rrdata: its character-strings joined. */
export function txtValue(rrdata: string): string {
  return Buffer.concat(characterStrings(rrdata) ?? [Buffer.from(rrdata)]).toString('utf8');
}
