/**
 * The google-cloud-dns provider against a wire-faithful fake of the Cloud DNS
 * v1 API that publishes into pebble-challtestsrv: the shared conformance
 * suite (with rate limiting and pending changes on, ending in a real Pebble
 * issuance), then the Cloud DNS specifics.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { googleCloudDns, type GoogleCloudDnsOptions } from '../../providers/google-cloud-dns/index.js';
import { createGoogleCloudDns } from '../../providers/google-cloud-dns/provider.js';
import { quoteTxt, unquoteTxt } from '../../providers/google-cloud-dns/txt.js';
import type { DnsRecord } from '../../src/challenges/provider.js';
import { absoluteName } from '../../src/challenges/zones.js';
import { isCertpilotError } from '../../src/errors.js';
import { startChalltestsrv, type Challtestsrv } from '../helpers/challtestsrv.js';
import { challtestsrvPublisher } from '../helpers/dns-publisher.js';
import { describeProviderConformance, txtAt } from '../helpers/provider-conformance.js';
import { startFakeGoogleCloudDns, txtValue, type FakeGoogleCloudDns, type FakeGoogleCloudDnsOptions } from './fakes/google-cloud-dns.js';

const ZONE = 'example.test.';
/** A private zone with the same DNS name comes first, and fillers force several pages. */
const ZONES: FakeGoogleCloudDnsOptions['zones'] = [
  { name: 'example-test-vpc', dnsName: ZONE, visibility: 'private' },
  { name: 'filler-one', dnsName: 'one.test.' },
  { name: 'internal-only', dnsName: 'internal.test.', visibility: 'private' },
  { name: 'filler-two', dnsName: 'two.test.' },
  { name: 'example-test', dnsName: ZONE },
];

let challtestsrv: Promise<Challtestsrv> | undefined;
const sharedChalltestsrv = () => (challtestsrv ??= startChalltestsrv());
afterAll(async () => { await (await challtestsrv)?.stop(); });

const signal = () => new AbortController().signal;
const rec = (name: string, value: string, ttl = 60): DnsRecord => ({ type: 'TXT', name, value, ttl });
let seq = 0;
const fresh = () => `_acme-challenge.t${Date.now().toString(36)}${seq++}`;

describeProviderConformance('google-cloud-dns', async () => {
  const csrv = await sharedChalltestsrv();
  const fake = await startFakeGoogleCloudDns({
    zones: ZONES,
    publisher: challtestsrvPublisher(csrv.managementUrl),
    pendingMs: 300,
    rateLimit: { limit: 10, windowMs: 1000 },
  });
  return {
    provider: googleCloudDns({ project: fake.project, endpoint: fake.endpoint, accessToken: fake.token, pollIntervalMs: 200 }),
    zone: ZONE,
    dnsServer: csrv.dnsServer,
    addForeignRecord: (name, value) => fake.addForeignRrdata('example-test', absoluteName(name, ZONE), `"${value}"`),
    close: async () => {
      // A full run must really have been throttled, or it proved less than it claims (a filtered run may not be).
      if (fake.stats.requests >= 40) expect(fake.stats.rateLimited).toBeGreaterThan(0);
      await fake.close();
    },
  };
});

describe('google-cloud-dns specifics', () => {
  let fake: FakeGoogleCloudDns;
  let csrv: Challtestsrv;
  const open: FakeGoogleCloudDns[] = [];

  async function start(options: Partial<FakeGoogleCloudDnsOptions> = {}): Promise<FakeGoogleCloudDns> {
    const started = await startFakeGoogleCloudDns({ zones: ZONES, publisher: challtestsrvPublisher(csrv.managementUrl), ...options });
    open.push(started);
    return started;
  }
  const provider = (f: FakeGoogleCloudDns, options: Partial<GoogleCloudDnsOptions> = {}) =>
    googleCloudDns({ project: f.project, endpoint: f.endpoint, accessToken: f.token, pollIntervalMs: 50, ...options });

  beforeAll(async () => { csrv = await sharedChalltestsrv(); });
  afterEach(async () => { await Promise.all(open.splice(0).map((f) => f.close())); });

  it('writes to the public zone when a private zone has the same DNS name, across pages', async () => {
    fake = await start({ pageSize: 1 });
    const dns = provider(fake);
    const name = fresh();
    const created = await dns.appendRecords(ZONE, [rec(name, 'public-only')], { signal: signal() });
    expect(fake.txt('example-test', absoluteName(name, ZONE))?.rrdatas).toEqual(['"public-only"']);
    expect(fake.txt('example-test-vpc', absoluteName(name, ZONE))).toBeUndefined();
    expect(fake.log.some((line) => line.includes('dnsName=example.test.') && line.includes('pageToken='))).toBe(true);
    // The deletion goes to the zone recorded at creation, without a second lookup.
    const listed = fake.log.filter((line) => /\/managedZones\?/.test(line)).length;
    await dns.deleteRecords(ZONE, created, { signal: signal() });
    expect(fake.log.filter((line) => /\/managedZones\?/.test(line)).length).toBe(listed);
    expect(fake.txt('example-test', absoluteName(name, ZONE))).toBeUndefined();
  });

  it('lists public zones (all pages), and private ones only when allowed', async () => {
    fake = await start({ pageSize: 2 });
    expect((await provider(fake).listZones!({ signal: signal() })).sort()).toEqual(['example.test.', 'one.test.', 'two.test.']);
    expect((await provider(fake, { allowPrivateZones: true }).listZones!({ signal: signal() })).sort()).toEqual(['example.test.', 'internal.test.', 'one.test.', 'two.test.']);
    expect(await provider(fake, { managedZone: 'filler-two' }).listZones!({ signal: signal() })).toEqual(['two.test.']);
  });

  it('refuses a zone that only has private managed zones unless allowed', async () => {
    fake = await start();
    const error = await provider(fake).appendRecords('internal.test.', [rec('_acme-challenge', 'v')], { signal: signal() }).catch((e: unknown) => e);
    expect(isCertpilotError(error) && error.code).toBe('DNS_ZONE_NOT_FOUND');
    expect((error as Error).message).toMatch(/^google-cloud-dns: .*only private managed zones.*allowPrivateZones/);
    await provider(fake, { allowPrivateZones: true }).appendRecords('internal.test.', [rec('_acme-challenge', 'v')], { signal: signal() });
    expect(fake.txt('internal-only', '_acme-challenge.internal.test.')?.rrdatas).toEqual(['"v"']);
  });

  it('redoes an append after a concurrent writer changed the set (412), losing no value', async () => {
    fake = await start();
    const name = fresh();
    const fqdn = absoluteName(name, ZONE);
    await fake.addForeignRrdata('example-test', fqdn, '"first"');
    fake.beforeNextChange(() => fake.addForeignRrdata('example-test', fqdn, '"sneaked-in"'));
    await provider(fake).appendRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
    expect(fake.stats.preconditionFailed).toBe(1);
    expect(fake.txt('example-test', fqdn)?.rrdatas.map(txtValue).sort()).toEqual(['first', 'ours', 'sneaked-in']);
    expect(await txtAt(csrv.dnsServer, fqdn.slice(0, -1))).toEqual(['first', 'ours', 'sneaked-in']);
  });

  it('redoes an append when the set appeared meanwhile (409), and a delete after a concurrent change', async () => {
    fake = await start();
    const name = fresh();
    const fqdn = absoluteName(name, ZONE);
    fake.beforeNextChange(() => fake.addForeignRrdata('example-test', fqdn, '"theirs"'));
    const created = await provider(fake).appendRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
    expect(fake.stats.alreadyExists).toBe(1);
    fake.beforeNextChange(() => fake.addForeignRrdata('example-test', fqdn, '"later"'));
    const deleted = await provider(fake).deleteRecords(ZONE, created, { signal: signal() });
    expect(deleted.map((r) => r.value)).toEqual(['ours']);
    expect(fake.stats.preconditionFailed).toBe(1);
    expect(fake.txt('example-test', fqdn)?.rrdatas.map(txtValue).sort()).toEqual(['later', 'theirs']);
  });

  it('keeps every value when two provider instances append at one name at once', async () => {
    fake = await start({ pendingMs: 30 });
    const name = fresh();
    const values = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'];
    await Promise.all(values.map((v) => provider(fake).appendRecords(ZONE, [rec(name, v)], { signal: signal() })));
    expect(fake.txt('example-test', absoluteName(name, ZONE))?.rrdatas.map(txtValue).sort()).toEqual(values);
    expect(fake.stats.preconditionFailed + fake.stats.alreadyExists).toBeGreaterThan(0);
  });

  it('gives up on a set that keeps changing with a retryable error', async () => {
    fake = await start();
    const name = fresh();
    const fqdn = absoluteName(name, ZONE);
    for (let i = 0; i < 3; i++) fake.beforeNextChange(() => fake.addForeignRrdata('example-test', fqdn, `"churn-${i}"`));
    const error = await provider(fake, { maxRetries: 2 }).appendRecords(ZONE, [rec(name, 'ours')], { signal: signal() }).catch((e: unknown) => e);
    expect(isCertpilotError(error) && error.retryable).toBe(true);
    expect((error as Error).message).toMatch(/^google-cloud-dns: the TXT records at .* kept changing/);
  });

  it('quotes values on the wire and reads them back, keeping foreign rrdata as written', async () => {
    fake = await start();
    const name = fresh();
    const fqdn = absoluteName(name, ZONE);
    await fake.addForeignRrdata('example-test', fqdn, 'v=spf1 "split" "string"'); // unquoted + multi-string, as other tools write
    const tricky = 'has "quotes", a \\ backslash and  spaces';
    const dns = provider(fake);
    const created = await dns.appendRecords(ZONE, [rec(name, tricky), rec(name, 'plain')], { signal: signal() });
    const rrdatas = fake.txt('example-test', fqdn)!.rrdatas;
    expect(rrdatas).toContain('"has \\"quotes\\", a \\\\ backslash and  spaces"');
    expect(rrdatas.map(txtValue).sort()).toEqual(['has "quotes", a \\ backslash and  spaces', 'plain', 'v=spf1splitstring'].sort());
    // challtestsrv drops backslashes when it serves a value, so DNS is checked for the others only.
    expect((await txtAt(csrv.dnsServer, fqdn.slice(0, -1))).filter((v) => v.startsWith('has')).length).toBe(1);
    expect((await txtAt(csrv.dnsServer, fqdn.slice(0, -1))).filter((v) => !v.startsWith('has'))).toEqual(['plain', 'v=spf1splitstring']);
    // Appending a value that is already there (in any quoting) is a no-op.
    const changes = fake.stats.changes;
    await dns.appendRecords(ZONE, [rec(name, tricky)], { signal: signal() });
    expect(fake.stats.changes).toBe(changes);
    await dns.deleteRecords(ZONE, created, { signal: signal() });
    expect(fake.txt('example-test', fqdn)!.rrdatas).toEqual(['v=spf1 "split" "string"']);
  });

  it('waits until the change is done, so DNS answers when append resolves', async () => {
    fake = await start({ pendingMs: 400 });
    const name = fresh();
    const started = Date.now();
    const created = await provider(fake).appendRecords(ZONE, [rec(name, 'served')], { signal: signal() });
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    expect(await txtAt(csrv.dnsServer, absoluteName(name, ZONE).slice(0, -1))).toEqual(['served']);
    await provider(fake).deleteRecords(ZONE, created, { signal: signal() });
    expect(await txtAt(csrv.dnsServer, absoluteName(name, ZONE).slice(0, -1))).toEqual([]);
  });

  it('stops waiting for a pending change when aborted, and times out retryably', async () => {
    fake = await start({ pendingMs: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const started = Date.now();
    const aborted = await provider(fake).appendRecords(ZONE, [rec(fresh(), 'x')], { signal: controller.signal }).catch((e: unknown) => e);
    expect(isCertpilotError(aborted) && aborted.code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(1000);
    const slow = await provider(fake, { changeTimeoutMs: 300 }).appendRecords(ZONE, [rec(fresh(), 'y')], { signal: signal() }).catch((e: unknown) => e);
    expect(isCertpilotError(slow) && slow.retryable).toBe(true);
    expect((slow as Error).message).toMatch(/^google-cloud-dns: change \d+ in managed zone example-test was still pending after 300 ms/);
  });

  it('retries 429 rateLimitExceeded, honouring Retry-After', async () => {
    fake = await start({ rateLimit: { limit: 2, windowMs: 1000, retryAfterSeconds: 1 } });
    const started = Date.now();
    await provider(fake).appendRecords(ZONE, [rec(fresh(), 'limited')], { signal: signal() });
    expect(fake.stats.rateLimited).toBeGreaterThan(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const error = await provider(fake, { maxRetries: 0 }).listZones!({ signal: signal() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DNS_PROVIDER_ERROR', retryable: true, status: 429, reason: 'rateLimitExceeded' });
    expect((error as Error).message).toMatch(/^google-cloud-dns: list managed zones answered 429 rateLimitExceeded: Quota exceeded/);
  });

  it('calls an async accessToken function for every request', async () => {
    fake = await start();
    fake.acceptToken('rotated-1');
    fake.acceptToken('rotated-2');
    let calls = 0;
    const dns = provider(fake, { accessToken: async () => `rotated-${(calls++ % 2) + 1}` });
    const created = await dns.appendRecords(ZONE, [rec(fresh(), 'fn')], { signal: signal() });
    expect(calls).toBe(fake.stats.requests);
    await dns.deleteRecords(ZONE, created, { signal: signal() });
    expect(calls).toBe(fake.stats.requests);
    const failing = provider(fake, { accessToken: async () => { throw new Error('vault unreachable'); } });
    await expect(failing.listZones!({ signal: signal() })).rejects.toThrow(/^google-cloud-dns: the accessToken function failed: vault unreachable$/);
  });

  it('names the package to install when google-auth-library is missing', async () => {
    fake = await start();
    const missing = async () => { throw Object.assign(new Error("Cannot find package 'google-auth-library'"), { code: 'ERR_MODULE_NOT_FOUND' }); };
    const dns = createGoogleCloudDns({ project: fake.project, endpoint: fake.endpoint }, missing);
    const error = await dns.appendRecords(ZONE, [rec(fresh(), 'v')], { signal: signal() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DNS_PROVIDER_ERROR', retryable: false });
    expect((error as Error).message).toContain('npm install google-auth-library');
    expect(fake.stats.requests).toBe(0);
  });

  it('gets tokens through google-auth-library from credentials and from Application Default Credentials', async () => {
    fake = await start();
    const dir = await mkdtemp(path.join(tmpdir(), 'certpilot-gcd-'));
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    try {
      // An external-account (workload identity) key: its token_url may point anywhere, unlike a service-account key's.
      await writeFile(path.join(dir, 'subject-token'), 'subject-token-from-the-platform');
      const credentials = {
        type: 'external_account',
        audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `${fake.endpoint}/v1/token`,
        credential_source: { file: path.join(dir, 'subject-token') },
      };
      await provider(fake, { accessToken: undefined, credentials: JSON.stringify(credentials) }).listZones!({ signal: signal() });
      expect(fake.stats.stsExchanges).toBe(1);
      await writeFile(path.join(dir, 'adc.json'), JSON.stringify(credentials));
      process.env.GOOGLE_APPLICATION_CREDENTIALS = path.join(dir, 'adc.json');
      const dns = provider(fake, { accessToken: undefined });
      const created = await dns.appendRecords(ZONE, [rec(fresh(), 'adc')], { signal: signal() });
      await dns.deleteRecords(ZONE, created, { signal: signal() });
      expect(fake.stats.stsExchanges).toBe(2); // cached by google-auth-library across requests
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never puts the token into an error, even when the server echoes it', async () => {
    fake = await start({ echoAuthorization: true, tokens: ['accepted-token'] });
    const secret = 'tok-3f9a';
    fake.acceptToken(secret);
    const failures = await Promise.all([
      provider(fake, { accessToken: secret, managedZone: 'no-such-zone' }).appendRecords(ZONE, [rec(fresh(), 'v')], { signal: signal() }),
      provider(fake, { accessToken: 'tok-wrong-77' }).listZones!({ signal: signal() }),
      provider(fake, { accessToken: secret, project: 'other-project' }).listZones!({ signal: signal() }),
      provider(fake, { accessToken: async () => secret, endpoint: `${fake.endpoint}/prefix` }).listZones!({ signal: signal() }),
    ].map((p) => p.then(() => undefined, (e: unknown) => e)));
    const texts = failures.map((e) => {
      expect(isCertpilotError(e)).toBe(true);
      const error = e as Error & { toJSON(): unknown };
      expect(error.message).toMatch(/^google-cloud-dns: /);
      return [error.message, error.stack, JSON.stringify(error.toJSON()), String((error.cause as Error | undefined)?.message)].join('\n');
    });
    for (const text of texts) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain('tok-wrong-77');
    }
    expect(texts[0]).toMatch(/answered 404 notFound: The 'parameters.managedZone' resource named 'no-such-zone' does not exist/);
    expect(texts[1]).toMatch(/answered 401 authError: .*Check the access token/);
    expect(texts[3]).toMatch(/answered 404: <html>/);
  });

  it('rejects bad options at construction', () => {
    expect(() => googleCloudDns({ project: '' })).toThrow(/^google-cloud-dns: project is required/);
    expect(() => googleCloudDns({ project: 'p', endpoint: 'not a url', accessToken: 't' })).toThrow(/endpoint/);
    const badJson = (() => { try { googleCloudDns({ project: 'p', credentials: '{"private_key": "-----BEGIN' }); } catch (e) { return e as Error; } })();
    expect(badJson?.message).toMatch(/^google-cloud-dns: credentials is not valid JSON/);
    expect(badJson?.message).not.toContain('BEGIN'); // the text holds a key: never echoed
    expect(() => googleCloudDns({ project: 'p', accessToken: 't', maxRetries: -1 })).toThrow(/maxRetries/);
  });
});

describe('TXT quoting', () => {
  it('round-trips values through quoteTxt and unquoteTxt', () => {
    for (const value of ['abc', '', 'a "b" c', 'back\\slash', 'tab\there', 'ünïcødé ✓', 'x'.repeat(600), `${'é'.repeat(200)}`]) {
      expect(unquoteTxt(quoteTxt(value))).toBe(value);
      expect(txtValue(quoteTxt(value))).toBe(value); // the fake's independent parser agrees
    }
  });

  it('splits long values into character-strings of at most 255 bytes, never inside a character', () => {
    const quoted = quoteTxt('é'.repeat(200)); // 400 bytes
    const strings = quoted.match(/"[^"]*"/g)!;
    expect(strings).toHaveLength(2);
    expect(Buffer.byteLength(strings[0]!.slice(1, -1))).toBe(254);
  });

  it('reads zone-file syntax: several strings, unquoted strings, decimal escapes', () => {
    expect(unquoteTxt('"abc" "def"')).toBe('abcdef');
    expect(unquoteTxt('v=spf1 include')).toBe('v=spf1include');
    expect(unquoteTxt('"a\\034b\\\\"')).toBe('a"b\\');
    expect(unquoteTxt('"\\195\\169"')).toBe('é');
  });
});
