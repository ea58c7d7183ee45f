/**
 * A wire-faithful fake of the Route 53 REST/XML API (2013-04-01) on
 * 127.0.0.1, for the operations the route53 provider sends through the real
 * AWS SDK: ListHostedZonesByName, ListHostedZones, ListResourceRecordSets,
 * ChangeResourceRecordSets and GetChange.
 *
 * What it holds Route 53 to:
 * - every request carries a SigV4 `Authorization` header for service
 *   `route53` (else 403 `MissingAuthenticationToken`, as AWS answers);
 * - errors are `<ErrorResponse><Error><Type/><Code/><Message/></Error>`,
 *   throttling included (HTTP 400 + `Throttling`), for a configurable share
 *   of requests;
 * - record sets sort by name with labels reversed, then type; pages are
 *   small (`pageSize`) so clients must follow `IsTruncated`/`Next…`;
 * - change batches are transactional: CREATE of an existing set, DELETE of
 *   a set that is missing or differs in TTL or values, unquoted TXT values
 *   and duplicate values reject the whole batch with `InvalidChangeBatch`;
 * - changes are PENDING for `insyncAfterMs`, then INSYNC; the TXT sets they
 *   touched in public zones are published into challtestsrv at that moment
 *   (eventual consistency), private zones never are.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { DnsPublisher } from '../../helpers/dns-publisher.js';

const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';

/** A hosted zone of the fake. */
export interface FakeZone {
  id: string;
  name: string;
  private: boolean;
}

/** A record set as the fake stores it (values raw, as sent: quoted for TXT). */
export interface FakeRecordSet {
  name: string;
  type: string;
  ttl: number;
  values: string[];
  setIdentifier?: string;
}

/** One submitted change batch. */
export interface FakeChange {
  id: string;
  submittedAt: number;
  status: 'PENDING' | 'INSYNC';
  /** When it became INSYNC (after its sets were published). */
  insyncAt?: number;
  actions: { action: string; name: string; type: string }[];
}

/** One request the fake answered. */
export interface FakeRequest {
  operation: string;
  status: number;
  code?: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
}

/** An error the fake returns instead of processing a request. */
export interface InjectedError {
  status: number;
  code: string;
  message: string | ((request: IncomingMessage) => string);
}

export interface FakeRoute53Options {
  /** Where INSYNC record sets of public zones are published; none = DNS is not served. */
  publisher?: DnsPublisher;
  /** @default a public and a private `example.test.` (the private one sorts first), and public `other.test.`, `zone3.test.` */
  zones?: FakeZone[];
  /** How long a change stays PENDING. @default 300 */
  insyncAfterMs?: number;
  /** Share of requests (0..1) answered with 400 Throttling. @default 0 */
  throttleRate?: number;
  /** Largest page any list returns, whatever MaxItems asks. @default 2 */
  pageSize?: number;
  /** The only access key id accepted. @default 'AKIDFAKEROUTE53' */
  accessKeyId?: string;
  /** Seed of the throttling dice, for reproducible runs. @default 1 */
  seed?: number;
}

export interface FakeRoute53 {
  /** `http://127.0.0.1:port`, for the SDK's `endpoint`. */
  endpoint: string;
  zones: FakeZone[];
  requests: FakeRequest[];
  changes: FakeChange[];
  /** Errors from publishing into challtestsrv (a test should assert it stays empty). */
  publishErrors: unknown[];
  throttleRate: number;
  /** The record set `name`/`type` in zone `zoneId`, or undefined. */
  recordSet(zoneId: string, name: string, type?: string): FakeRecordSet | undefined;
  /** Backdoor: puts a record set into a zone as another program would (published at once for public zones). */
  putRecordSet(zoneId: string, set: FakeRecordSet): Promise<void>;
  /** Backdoor: adds one quoted TXT value at `name` (FQDN) in `zoneId`, keeping what is there. */
  addForeignTxt(zoneId: string, name: string, value: string, ttl?: number): Promise<void>;
  /** The next `times` requests of `operation` fail with `error`. */
  failNext(operation: string, error: InjectedError, times?: number): void;
  /** Runs `hook` just before the next request of `operation` is processed (to stage a race). */
  beforeNext(operation: string, hook: () => void | Promise<void>): void;
  /** Waits until every change is INSYNC and published. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** The default zones: a private zone that sorts before the public one of the same name. */
export const DEFAULT_ZONES: FakeZone[] = [
  { id: 'Z0PRIVATEEXAMPLE', name: 'example.test.', private: true },
  { id: 'Z1PUBLICEXAMPLE', name: 'example.test.', private: false },
  { id: 'Z2OTHERTEST', name: 'other.test.', private: false },
  { id: 'Z3ZONE3TEST', name: 'zone3.test.', private: false },
];

/** Starts the fake on a free loopback port. */
export async function startFakeRoute53(options: FakeRoute53Options = {}): Promise<FakeRoute53> {
  const zones = (options.zones ?? DEFAULT_ZONES).map((z) => ({ ...z, name: fqdn(z.name) }));
  const sets = new Map<string, Map<string, FakeRecordSet>>(zones.map((z) => [z.id, new Map()]));
  for (const zone of zones) {
    const table = sets.get(zone.id)!;
    table.set(key(zone.name, 'SOA'), { name: zone.name, type: 'SOA', ttl: 900, values: [`ns-1.fake-route53.test. hostmaster.${zone.name} 1 7200 900 1209600 86400`] });
    table.set(key(zone.name, 'NS'), { name: zone.name, type: 'NS', ttl: 172800, values: ['ns-1.fake-route53.test.', 'ns-2.fake-route53.test.'] });
  }
  const pageSize = options.pageSize ?? 2;
  const insyncAfterMs = options.insyncAfterMs ?? 300;
  const accessKeyId = options.accessKeyId ?? 'AKIDFAKEROUTE53';
  const random = mulberry32(options.seed ?? 1);
  const injected = new Map<string, InjectedError[]>();
  const hooks = new Map<string, (() => void | Promise<void>)[]>();
  const pending = new Set<Promise<void>>();
  let changeCounter = 0;

  const fake: FakeRoute53 = {
    endpoint: '',
    zones,
    requests: [],
    changes: [],
    publishErrors: [],
    throttleRate: options.throttleRate ?? 0,
    recordSet: (zoneId, name, type = 'TXT') => sets.get(zoneId)?.get(key(fqdn(name), type)),
    async putRecordSet(zoneId, set) {
      const zone = zoneById(zoneId);
      sets.get(zone.id)!.set(key(fqdn(set.name), set.type), { ...set, name: fqdn(set.name) });
      if (!zone.private && set.type === 'TXT') await publish(zone, fqdn(set.name));
    },
    async addForeignTxt(zoneId, name, value, ttl = 300) {
      const existing = fake.recordSet(zoneId, name);
      await fake.putRecordSet(zoneId, { name, type: 'TXT', ttl: existing?.ttl ?? ttl, values: [...(existing?.values ?? []), `"${value}"`] });
    },
    failNext(operation, error, times = 1) {
      injected.set(operation, [...(injected.get(operation) ?? []), ...Array.from({ length: times }, () => error)]);
    },
    beforeNext(operation, hook) {
      hooks.set(operation, [...(hooks.get(operation) ?? []), hook]);
    },
    async settle() {
      while (pending.size) await Promise.all([...pending]);
    },
    close: async () => {
      await fake.settle();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function zoneById(id: string): FakeZone {
    const zone = zones.find((z) => z.id === id.replace(/^\/?hostedzone\//, ''));
    if (!zone) throw new Error(`fake route53: no zone ${id}`);
    return zone;
  }

  async function publish(zone: FakeZone, name: string, values = txtValuesOf(sets.get(zone.id)!.get(key(name, 'TXT')))): Promise<void> {
    if (!options.publisher || zone.private) return;
    try {
      await options.publisher.publish(name, values);
    } catch (error) {
      fake.publishErrors.push(error);
    }
  }

  // ---- operations ----

  function listHostedZonesByName(q: Record<string, string>): Reply {
    if (q.hostedzoneid && !q.dnsname) return error(400, 'InvalidInput', 'The hosted zone id is only valid together with the DNS name');
    const sorted = [...zones].sort((a, b) => compare(sortKey(a.name), sortKey(b.name)) || compare(a.id, b.id));
    const start = q.dnsname ? fqdn(q.dnsname) : undefined;
    const from = start === undefined ? sorted : sorted.filter((z) => {
      const c = compare(sortKey(z.name), sortKey(start));
      return c > 0 || (c === 0 && (!q.hostedzoneid || compare(z.id, q.hostedzoneid) >= 0));
    });
    const max = Math.min(Number(q.maxitems ?? 100), pageSize);
    const page = from.slice(0, max);
    const next = from[max];
    return ok('ListHostedZonesByNameResponse', [
      `<HostedZones>${page.map(zoneXml).join('')}</HostedZones>`,
      q.dnsname ? `<DNSName>${esc(q.dnsname)}</DNSName>` : '',
      q.hostedzoneid ? `<HostedZoneId>${esc(q.hostedzoneid)}</HostedZoneId>` : '',
      `<IsTruncated>${next ? 'true' : 'false'}</IsTruncated>`,
      next ? `<NextDNSName>${esc(next.name)}</NextDNSName><NextHostedZoneId>${next.id}</NextHostedZoneId>` : '',
      `<MaxItems>${max}</MaxItems>`,
    ].join(''));
  }

  function listHostedZones(q: Record<string, string>): Reply {
    const sorted = [...zones].sort((a, b) => compare(a.id, b.id));
    const from = q.marker ? sorted.filter((z) => compare(z.id, q.marker!) >= 0) : sorted;
    const max = Math.min(Number(q.maxitems ?? 100), pageSize);
    const next = from[max];
    return ok('ListHostedZonesResponse', [
      `<HostedZones>${from.slice(0, max).map(zoneXml).join('')}</HostedZones>`,
      q.marker ? `<Marker>${esc(q.marker)}</Marker>` : '',
      `<IsTruncated>${next ? 'true' : 'false'}</IsTruncated>`,
      next ? `<NextMarker>${next.id}</NextMarker>` : '',
      `<MaxItems>${max}</MaxItems>`,
    ].join(''));
  }

  function listResourceRecordSets(zoneId: string, q: Record<string, string>): Reply {
    const table = sets.get(zoneId);
    if (!table) return error(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${zoneId}`);
    if (q.type && !q.name) return error(400, 'InvalidInput', 'The input is not valid: type was given without name');
    const sorted = [...table.values()].sort(compareSets);
    const from = q.name
      ? sorted.filter((s) => {
          const c = compare(sortKey(s.name), sortKey(fqdn(q.name!)));
          return c > 0 || (c === 0 && (!q.type || compare(s.type, q.type) >= 0));
        })
      : sorted;
    const max = Math.min(Number(q.maxitems ?? 300), pageSize);
    const next = from[max];
    return ok('ListResourceRecordSetsResponse', [
      `<ResourceRecordSets>${from.slice(0, max).map(recordSetXml).join('')}</ResourceRecordSets>`,
      `<IsTruncated>${next ? 'true' : 'false'}</IsTruncated>`,
      next ? `<NextRecordName>${esc(next.name)}</NextRecordName><NextRecordType>${next.type}</NextRecordType>` : '',
      `<MaxItems>${max}</MaxItems>`,
    ].join(''));
  }

  function changeResourceRecordSets(zoneId: string, body: string): Reply {
    const table = sets.get(zoneId);
    if (!table) return error(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${zoneId}`);
    const zone = zoneById(zoneId);
    let root: XmlNode;
    try {
      root = parseXml(body);
    } catch {
      return error(400, 'MalformedInput', 'Invalid XML');
    }
    if (root.name !== 'ChangeResourceRecordSetsRequest') return error(400, 'MalformedInput', 'ChangeBatch is not valid, expected ChangeResourceRecordSetsRequest');
    const changes = all(child(child(root, 'ChangeBatch'), 'Changes'), 'Change');
    if (changes.length === 0) return error(400, 'InvalidInput', 'Invalid request: Expected at least one change');
    // Applied to a copy: the batch is all or nothing.
    const next = new Map(table);
    const problems: string[] = [];
    const seen = new Set<string>();
    const actions: FakeChange['actions'] = [];
    for (const change of changes) {
      const action = text(change, 'Action');
      const rrs = child(change, 'ResourceRecordSet');
      const name = fqdn(decodeName(text(rrs, 'Name')));
      const type = text(rrs, 'Type');
      const ttlText = text(rrs, 'TTL');
      const values = all(child(rrs, 'ResourceRecords'), 'ResourceRecord').map((r) => text(r, 'Value'));
      const label = `[name='${name}', type='${type}']`;
      actions.push({ action, name, type });
      if (seen.has(key(name, type))) { problems.push(`The request contains an invalid set of changes for a resource record set '${type} ${name}'`); continue; }
      seen.add(key(name, type));
      if (!(name === zone.name || name.endsWith(`.${zone.name}`))) { problems.push(`RRSet with DNS name ${name} is not permitted in zone ${zone.name}`); continue; }
      if (!/^\d+$/.test(ttlText)) { problems.push(`Invalid request: Missing field 'TTL' in Change with [Action=${action}, Name=${name}, Type=${type}, SetIdentifier=null]`); continue; }
      const invalid = type === 'TXT' ? values.find((v) => !isQuotedTxt(v)) : undefined;
      if (invalid !== undefined) { problems.push(`Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with '${invalid}''`); continue; }
      const duplicate = values.find((v, i) => values.indexOf(v) !== i);
      if (duplicate !== undefined) { problems.push(`Duplicate Resource Record: '${duplicate}'`); continue; }
      const set: FakeRecordSet = { name, type, ttl: Number(ttlText), values };
      const existing = next.get(key(name, type));
      if (action === 'CREATE') {
        if (existing) problems.push(`Tried to create resource record set ${label} but it already exists`);
        else next.set(key(name, type), set);
      } else if (action === 'DELETE') {
        if (!existing) problems.push(`Tried to delete resource record set ${label} but it was not found`);
        else if (existing.ttl !== set.ttl || [...existing.values].sort().join('\n') !== [...values].sort().join('\n')) problems.push(`Tried to delete resource record set ${label} but the values provided do not match the current values`);
        else next.delete(key(name, type));
      } else if (action === 'UPSERT') {
        next.set(key(name, type), set);
      } else {
        problems.push(`Invalid request: unknown action ${action}`);
      }
    }
    if (problems.length) return error(400, 'InvalidChangeBatch', `[${problems.join(', ')}]`);
    table.clear();
    for (const [k, v] of next) table.set(k, v);

    const record: FakeChange = { id: `C${String(++changeCounter).padStart(4, '0')}${randomUUID().slice(0, 8).toUpperCase()}`, submittedAt: Date.now(), status: 'PENDING', actions };
    fake.changes.push(record);
    // Snapshot now: what this change made the sets look like is what name servers get when it is INSYNC.
    const snapshot = [...new Set(actions.filter((a) => a.type === 'TXT').map((a) => a.name))].map((name) => ({ name, values: txtValuesOf(table.get(key(name, 'TXT'))) }));
    const done = new Promise<void>((resolve) => setTimeout(resolve, insyncAfterMs))
      .then(async () => {
        for (const s of snapshot) await publish(zone, s.name, s.values);
        record.status = 'INSYNC';
        record.insyncAt = Date.now();
      })
      .finally(() => pending.delete(done));
    pending.add(done);
    return ok('ChangeResourceRecordSetsResponse', changeInfoXml(record));
  }

  function getChange(id: string): Reply {
    const record = fake.changes.find((c) => c.id === id.replace(/^\/?change\//, ''));
    if (!record) return error(404, 'NoSuchChange', `A change with the specified change ID does not exist: ${id}`);
    return ok('GetChangeResponse', changeInfoXml(record));
  }

  // ---- transport ----

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    const path = url.pathname.replace(/\/+$/, '');
    let operation = 'Unknown';
    let route: () => Reply = () => error(404, 'UnknownOperationException', `No operation at ${req.method} ${path}`);
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/2013-04-01/hostedzonesbyname') { operation = 'ListHostedZonesByName'; route = () => listHostedZonesByName(query); }
    else if (req.method === 'GET' && path === '/2013-04-01/hostedzone') { operation = 'ListHostedZones'; route = () => listHostedZones(query); }
    else if ((m = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset$/.exec(path))) {
      const zoneId = decodeURIComponent(m[1]!);
      if (req.method === 'GET') { operation = 'ListResourceRecordSets'; route = () => listResourceRecordSets(zoneId, query); }
      else if (req.method === 'POST') { operation = 'ChangeResourceRecordSets'; route = () => changeResourceRecordSets(zoneId, body); }
    } else if (req.method === 'GET' && (m = /^\/2013-04-01\/change\/([^/]+)$/.exec(path))) { operation = 'GetChange'; const id = decodeURIComponent(m[1]!); route = () => getChange(id); }

    let reply = authenticate(req);
    if (!reply) {
      const injection = injected.get(operation)?.shift();
      if (injection) reply = error(injection.status, injection.code, typeof injection.message === 'function' ? injection.message(req) : injection.message);
    }
    if (!reply && random() < fake.throttleRate) reply = error(400, 'Throttling', 'Rate exceeded');
    if (!reply) {
      const hook = hooks.get(operation)?.shift();
      if (hook) await hook();
      reply = route();
    }
    fake.requests.push({ operation, status: reply.status, ...(reply.code ? { code: reply.code } : {}), query, headers: req.headers });
    const requestId = randomUUID();
    res.writeHead(reply.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(reply.body(requestId)) });
    res.end(reply.body(requestId));
  }

  /** SigV4 header checks AWS makes before anything else (the signature itself is not recomputed). */
  function authenticate(req: IncomingMessage): Reply | undefined {
    const auth = req.headers.authorization;
    if (!auth) return error(403, 'MissingAuthenticationToken', 'Missing Authentication Token');
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=[0-9a-f]{64}$/.exec(auth);
    if (!m || !req.headers['x-amz-date']) return error(400, 'IncompleteSignature', 'Authorization header requires Credential, SignedHeaders and Signature, and an X-Amz-Date header');
    if (m[4] !== 'route53') return error(403, 'SignatureDoesNotMatch', `Credential should be scoped to correct service: 'route53'.`);
    if (m[1] !== accessKeyId) return error(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    if (!m[5]!.split(';').includes('host') || !m[5]!.split(';').includes('x-amz-date')) return error(403, 'SignatureDoesNotMatch', 'Signed headers must include host and x-amz-date');
    return undefined;
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/xml' });
      res.end(errorXml('Receiver', 'InternalFailure', String(e), randomUUID()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

// ---- XML and helpers ----

interface Reply { status: number; code?: string; body(requestId: string): string }

function ok(root: string, inner: string): Reply {
  return { status: 200, body: () => `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${XMLNS}">${inner}</${root}>` };
}

function error(status: number, code: string, message: string): Reply {
  return { status, code, body: (requestId) => errorXml(status >= 500 ? 'Receiver' : 'Sender', code, message, requestId) };
}

function errorXml(type: string, code: string, message: string, requestId: string): string {
  return `<?xml version="1.0"?>\n<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}

function zoneXml(z: FakeZone): string {
  return `<HostedZone><Id>/hostedzone/${z.id}</Id><Name>${esc(z.name)}</Name><CallerReference>fake-${z.id}</CallerReference><Config><PrivateZone>${z.private}</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>`;
}

function recordSetXml(s: FakeRecordSet): string {
  const records = s.values.map((v) => `<ResourceRecord><Value>${esc(v)}</Value></ResourceRecord>`).join('');
  return `<ResourceRecordSet><Name>${esc(encodeName(s.name))}</Name><Type>${s.type}</Type>${s.setIdentifier ? `<SetIdentifier>${esc(s.setIdentifier)}</SetIdentifier><Weight>1</Weight>` : ''}<TTL>${s.ttl}</TTL><ResourceRecords>${records}</ResourceRecords></ResourceRecordSet>`;
}

function changeInfoXml(c: FakeChange): string {
  return `<ChangeInfo><Id>/change/${c.id}</Id><Status>${c.status}</Status><SubmittedAt>${new Date(c.submittedAt).toISOString()}</SubmittedAt></ChangeInfo>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function key(name: string, type: string): string {
  return `${name} ${type}`;
}

function fqdn(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/** Route 53 sorts names with labels reversed: `www.example.com.` → `com.example.www.`. */
function sortKey(name: string): string {
  return `${name.split('.').filter(Boolean).reverse().join('.')}.`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareSets(a: FakeRecordSet, b: FakeRecordSet): number {
  return compare(sortKey(a.name), sortKey(b.name)) || compare(a.type, b.type) || compare(a.setIdentifier ?? '', b.setIdentifier ?? '');
}

/** Route 53 returns `*` and other special characters in names as three-digit octal escapes. */
function encodeName(name: string): string {
  return name.replace(/[^a-z0-9._-]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function decodeName(name: string): string {
  return name.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** One or more `"…"` strings, each at most 255 characters, with `\"` and `\\` escapes. */
function isQuotedTxt(value: string): boolean {
  const strings = value.match(/"(?:[^"\\]|\\.)*"/g);
  if (!strings || strings.join(' ').length === 0) return false;
  if (value.replace(/"(?:[^"\\]|\\.)*"/g, '').trim() !== '') return false;
  // A DNS character-string holds at most 255 bytes once escapes are undone.
  return strings.every((s) => Buffer.byteLength(unescapeTxt(s.slice(1, -1)), 'latin1') <= 255);
}

function unescapeTxt(s: string): string {
  return s.replace(/\\([0-7]{3}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e, 8)) : e));
}

/** The TXT values of a set as a resolver sees them (quotes and escapes removed, strings joined). */
function txtValuesOf(set: FakeRecordSet | undefined): string[] {
  return (set?.values ?? []).map((raw) =>
    (raw.match(/"(?:[^"\\]|\\.)*"/g) ?? [raw]).map((s) => unescapeTxt(s.replace(/^"|"$/g, ''))).join(''),
  );
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Small deterministic PRNG, so a throttled run can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface XmlNode { name: string; children: XmlNode[]; text: string }

/** A minimal XML parser for request bodies (elements, text, the five entities and numeric references). */
function parseXml(source: string): XmlNode {
  const root: XmlNode = { name: '#document', children: [], text: '' };
  const stack: XmlNode[] = [root];
  const token = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<(\/?)([A-Za-z_][\w.:-]*)[^>]*?(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  while ((m = token.exec(source))) {
    const top = stack.at(-1)!;
    if (m[4] !== undefined) { top.text += decodeEntities(m[4]); continue; }
    if (!m[2]) continue;
    const name = m[2].replace(/^.*:/, '');
    if (m[1]) {
      if (top.name !== name) throw new Error(`unexpected </${name}>`);
      stack.pop();
    } else {
      const node: XmlNode = { name, children: [], text: '' };
      top.children.push(node);
      if (!m[3]) stack.push(node);
    }
  }
  if (stack.length !== 1 || root.children.length !== 1) throw new Error('unbalanced XML');
  return root.children[0]!;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1]?.toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
      : ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e.toLowerCase()]!,
  );
}

function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name);
}

function all(node: XmlNode | undefined, name: string): XmlNode[] {
  return node?.children.filter((c) => c.name === name) ?? [];
}

function text(node: XmlNode | undefined, name: string): string {
  return child(node, name)?.text.trim() ?? '';
}
