/**
 * The route53 provider through the real AWS SDK against a wire-faithful fake
 * of the Route 53 API (test/providers/fakes/route53.ts) that publishes what
 * becomes INSYNC into pebble-challtestsrv: the shared conformance suite
 * (with throttling on, ending in a Pebble issuance), then Route 53 specifics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route53, type Route53Options } from '../../providers/route53/index.js';
import { createRoute53Provider } from '../../providers/route53/provider.js';
import type { DnsRecord } from '../../src/challenges/provider.js';
import { isCertpilotError } from '../../src/errors.js';
import { startChalltestsrv, type Challtestsrv } from '../helpers/challtestsrv.js';
import { challtestsrvPublisher } from '../helpers/dns-publisher.js';
import { describeProviderConformance, txtAt } from '../helpers/provider-conformance.js';
import { startFakeRoute53, type FakeRoute53, type FakeRoute53Options } from './fakes/route53.js';

const PUBLIC = 'Z1PUBLICEXAMPLE';
const PRIVATE = 'Z0PRIVATEEXAMPLE';
const ZONE = 'example.test.';
const CREDENTIALS = { accessKeyId: 'AKIDFAKEROUTE53', secretAccessKey: 'fake-secret-for-tests' };
const signal = () => new AbortController().signal;
const rec = (name: string, value: string, ttl = 60): DnsRecord => ({ type: 'TXT', name, value, ttl });
let unique = 0;
const fresh = (prefix = 'r') => `_acme-challenge.${prefix}${Date.now().toString(36)}${unique++}`;
const fqdn = (name: string) => `${name}.${ZONE}`;

/** A provider pointed at `fake` with fake credentials (region us-east-1, as for real Route 53). */
function providerFor(fake: FakeRoute53, extra: Route53Options = {}) {
  return route53({ endpoint: fake.endpoint, region: 'us-east-1', credentials: CREDENTIALS, pollIntervalMs: 25, maxRetries: 10, ...extra });
}

describeProviderConformance('route53 (fake Route 53 API, 20 % throttled)', async () => {
  const dns = await startChalltestsrv();
  const fake = await startFakeRoute53({ publisher: challtestsrvPublisher(dns.managementUrl), throttleRate: 0.2, insyncAfterMs: 200 });
  return {
    provider: providerFor(fake),
    zone: ZONE,
    dnsServer: dns.dnsServer,
    addForeignRecord: (name, value) => fake.addForeignTxt(PUBLIC, fqdn(name), value),
    propagationMs: 5000,
    async close() {
      expect(fake.publishErrors).toEqual([]);
      // The suite ran with throttling on: the provider must have met (and survived) it.
      expect(fake.requests.some((r) => r.code === 'Throttling')).toBe(true);
      await fake.close();
      await dns.stop();
    },
  };
});

describe('route53 provider', () => {
  let dns: Challtestsrv;
  const fakes: FakeRoute53[] = [];
  async function fakeApi(options: FakeRoute53Options = {}): Promise<FakeRoute53> {
    const fake = await startFakeRoute53({ publisher: challtestsrvPublisher(dns.managementUrl), insyncAfterMs: 50, ...options });
    fakes.push(fake);
    return fake;
  }
  const changeActions = (fake: FakeRoute53) => fake.changes.flatMap((c) => c.actions.map((a) => a.action));

  beforeAll(async () => { dns = await startChalltestsrv(); });
  afterAll(async () => {
    for (const fake of fakes) await fake.close();
    await dns?.stop();
  });

  describe('hosted zone choice', () => {
    it('prefers the public zone when a private zone has the same name (and sorts first)', async () => {
      const fake = await fakeApi();
      const name = fresh();
      await providerFor(fake).appendRecords(ZONE, [rec(name, 'public-wins')], { signal: signal() });
      expect(fake.recordSet(PUBLIC, fqdn(name))?.values).toEqual(['"public-wins"']);
      expect(fake.recordSet(PRIVATE, fqdn(name))).toBeUndefined();
      expect(await txtAt(dns.dnsServer, fqdn(name))).toEqual(['public-wins']);
    });

    it('uses a private zone when it is the only one with that name', async () => {
      const fake = await fakeApi({ zones: [{ id: 'ZPRIVATEONLY', name: 'inside.test.', private: true }] });
      await providerFor(fake).appendRecords('inside.test.', [rec('_acme-challenge', 'private')], { signal: signal() });
      expect(fake.recordSet('ZPRIVATEONLY', '_acme-challenge.inside.test.')?.values).toEqual(['"private"']);
    });

    it('edits the zone hostedZoneId names, and lists only that zone (found without GetHostedZone)', async () => {
      const fake = await fakeApi();
      const provider = providerFor(fake, { hostedZoneId: `/hostedzone/${PRIVATE}` });
      expect(await provider.listZones!({ signal: signal() })).toEqual([ZONE]);
      const name = fresh();
      await provider.appendRecords(ZONE, [rec(name, 'chosen')], { signal: signal() });
      expect(fake.recordSet(PRIVATE, fqdn(name))?.values).toEqual(['"chosen"']);
      expect(fake.requests.some((r) => r.operation === 'ListHostedZonesByName')).toBe(false);
    });

    it('lists every zone across pages, once per name', async () => {
      const zones = ['a.test.', 'b.test.', 'c.test.', 'd.test.', 'e.test.'].map((name, i) => ({ id: `ZP${i}`, name, private: false }));
      const fake = await fakeApi({ zones: [...zones, { id: 'ZQ9', name: 'c.test.', private: true }] });
      expect((await providerFor(fake).listZones!({ signal: signal() })).sort()).toEqual(zones.map((z) => z.name));
      expect(fake.requests.filter((r) => r.operation === 'ListHostedZonesByName').length).toBeGreaterThanOrEqual(3);
    });

    it('says which zone is missing', async () => {
      const fake = await fakeApi();
      const error = await providerFor(fake).appendRecords('missing.test.', [rec('_acme-challenge', 'v')], { signal: signal() }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.code).toBe('DNS_ZONE_NOT_FOUND');
      expect((error as Error).message).toMatch(/^route53: no hosted zone named missing\.test\./);
    });
  });

  describe('read-modify-write of the TXT record set', () => {
    it('UPSERT keeps every other value (and its spelling), and deleting ours keeps them too', async () => {
      const fake = await fakeApi();
      const name = fresh();
      const long = `"${'a'.repeat(255)}" "${'b'.repeat(45)}"`;
      await fake.putRecordSet(PUBLIC, { name: fqdn(name), type: 'TXT', ttl: 3600, values: ['"v=spf1 -all"', long, '"say \\"hi\\""'] });
      const provider = providerFor(fake);
      await provider.appendRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
      const set = fake.recordSet(PUBLIC, fqdn(name))!;
      expect(set.values).toEqual(['"v=spf1 -all"', long, '"say \\"hi\\""', '"ours"']);
      expect(set.ttl).toBe(60); // the shorter TTL, so challenge values are not cached for an hour
      expect(changeActions(fake)).toEqual(['UPSERT']);

      const deleted = await provider.deleteRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
      expect(deleted.map((r) => r.value)).toEqual(['ours']);
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values).toEqual(['"v=spf1 -all"', long, '"say \\"hi\\""']);
      expect(changeActions(fake)).toEqual(['UPSERT', 'UPSERT']);
    });

    it('deletes the set, exactly as read, when our value was the last one', async () => {
      const fake = await fakeApi();
      const name = fresh();
      const provider = providerFor(fake);
      await provider.appendRecords(ZONE, [rec(name, 'only', 120)], { signal: signal() });
      await provider.deleteRecords(ZONE, [rec(name, 'only', 120)], { signal: signal() });
      expect(fake.recordSet(PUBLIC, fqdn(name))).toBeUndefined();
      expect(changeActions(fake)).toEqual(['UPSERT', 'DELETE']);
      expect(fake.requests.filter((r) => r.operation === 'ChangeResourceRecordSets').map((r) => r.status)).toEqual([200, 200]);
    });

    it('quotes and escapes values, and finds them again for deletion', async () => {
      const fake = await fakeApi();
      const name = fresh();
      const odd = `quote " backslash \\ é ${'x'.repeat(300)}`;
      const provider = providerFor(fake);
      await provider.appendRecords(ZONE, [rec(name, odd)], { signal: signal() });
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values[0]).toMatch(/^"quote \\" backslash \\\\ \\303\\251 x+" "x+"$/);
      expect(await provider.deleteRecords(ZONE, [rec(name, odd)], { signal: signal() })).toHaveLength(1);
      expect(fake.recordSet(PUBLIC, fqdn(name))).toBeUndefined();
    });

    it('keeps every value when many appends at one name run at once', async () => {
      const fake = await fakeApi({ throttleRate: 0.1 });
      const name = fresh();
      const provider = providerFor(fake);
      const values = Array.from({ length: 12 }, (_, i) => `concurrent-${i}`);
      await Promise.all(values.map((v) => provider.appendRecords(ZONE, [rec(name, v)], { signal: signal() })));
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values.sort()).toEqual(values.map((v) => `"${v}"`).sort());
      await fake.settle();
      expect((await txtAt(dns.dnsServer, fqdn(name))).sort()).toEqual([...values].sort());
      await Promise.all(values.slice(0, 6).map((v) => provider.deleteRecords(ZONE, [rec(name, v)], { signal: signal() })));
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values.sort()).toEqual(values.slice(6).map((v) => `"${v}"`).sort());
    });

    it('writes several names of one call in one change batch', async () => {
      const fake = await fakeApi();
      const [a, b] = [fresh(), fresh()];
      await providerFor(fake).appendRecords(ZONE, [rec(a, '1'), rec(b, '2'), rec(a, '3')], { signal: signal() });
      expect(fake.changes).toHaveLength(1);
      expect(fake.recordSet(PUBLIC, fqdn(a))!.values).toEqual(['"1"', '"3"']);
      expect(fake.recordSet(PUBLIC, fqdn(b))!.values).toEqual(['"2"']);
    });
  });

  describe('DELETE that does not match', () => {
    it('re-reads and retries when another writer changed the set between read and DELETE', async () => {
      const fake = await fakeApi();
      const name = fresh();
      const provider = providerFor(fake);
      await provider.appendRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
      fake.beforeNext('ChangeResourceRecordSets', () => fake.addForeignTxt(PUBLIC, fqdn(name), 'racer'));
      const deleted = await provider.deleteRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
      expect(deleted.map((r) => r.value)).toEqual(['ours']);
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values).toEqual(['"racer"']);
      const changes = fake.requests.filter((r) => r.operation === 'ChangeResourceRecordSets');
      expect(changes.map((r) => r.code ?? r.status)).toEqual([200, 'InvalidChangeBatch', 200]);
      expect(changeActions(fake)).toEqual(['UPSERT', 'UPSERT']);
    });

    it('is done when another writer deleted the set first', async () => {
      const fake = await fakeApi();
      const name = fresh();
      const provider = providerFor(fake);
      await provider.appendRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
      fake.beforeNext('ChangeResourceRecordSets', () => fake.putRecordSet(PUBLIC, { name: fqdn(name), type: 'TXT', ttl: 60, values: ['"someone-else"'] }));
      // The set now holds only someone else's value: ours is gone, and theirs must stay.
      await expect(provider.deleteRecords(ZONE, [rec(name, 'ours')], { signal: signal() })).resolves.toEqual([]);
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values).toEqual(['"someone-else"']);
    });

    it('gives up, retryably, when the set keeps changing under another writer', async () => {
      const fake = await fakeApi();
      const name = fresh();
      const provider = providerFor(fake, { maxRetries: 2 });
      await provider.appendRecords(ZONE, [rec(name, 'ours')], { signal: signal() });
      // Each race rewrites the set with another TTL: our plan stays a DELETE, and each DELETE misses.
      for (let i = 0; i < 3; i++) fake.beforeNext('ChangeResourceRecordSets', () => fake.putRecordSet(PUBLIC, { name: fqdn(name), type: 'TXT', ttl: 100 + i, values: ['"ours"'] }));
      const error = await provider.deleteRecords(ZONE, [rec(name, 'ours')], { signal: signal() }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.retryable).toBe(true);
      expect((error as Error).message).toMatch(/^route53: ChangeResourceRecordSets .* InvalidChangeBatch .* kept changing under another writer \(3 attempts\)\.$/s);
      expect(fake.recordSet(PUBLIC, fqdn(name))).toMatchObject({ ttl: 102, values: ['"ours"'] });
      expect(fake.requests.filter((r) => r.code === 'InvalidChangeBatch')).toHaveLength(3);
    });

    it('does not retry a rejection that no race explains', async () => {
      const fake = await fakeApi();
      const name = fresh();
      const provider = providerFor(fake);
      fake.failNext('ChangeResourceRecordSets', { status: 400, code: 'InvalidChangeBatch', message: "[Tried to delete resource record set [name='x.example.test.', type='TXT'] but the values provided do not match the current values]" }, 5);
      const error = await provider.appendRecords(ZONE, [rec(name, 'v')], { signal: signal() }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.code).toBe('DNS_PROVIDER_ERROR');
      expect(isCertpilotError(error) && error.retryable).toBe(false);
      expect((error as Error).message).toMatch(/^route53: ChangeResourceRecordSets in hosted zone Z1PUBLICEXAMPLE failed: InvalidChangeBatch \(HTTP 400\): \[Tried to delete/);
      expect(fake.requests.filter((r) => r.operation === 'ChangeResourceRecordSets')).toHaveLength(1);
    });
  });

  describe('waiting for INSYNC', () => {
    it('resolves only after the change is INSYNC, when DNS already answers', async () => {
      const fake = await fakeApi({ insyncAfterMs: 400 });
      const name = fresh();
      const started = Date.now();
      await providerFor(fake, { pollIntervalMs: 50 }).appendRecords(ZONE, [rec(name, 'in-sync')], { signal: signal() });
      const change = fake.changes[0]!;
      expect(change.status).toBe('INSYNC');
      expect(change.insyncAt! - started).toBeGreaterThanOrEqual(400);
      expect(fake.requests.filter((r) => r.operation === 'GetChange').length).toBeGreaterThanOrEqual(2);
      expect(await txtAt(dns.dnsServer, fqdn(name))).toEqual(['in-sync']);
    });

    it('gives up after syncTimeoutMs with a retryable error', async () => {
      const fake = await fakeApi({ insyncAfterMs: 5000 });
      const error = await providerFor(fake, { pollIntervalMs: 50, syncTimeoutMs: 300 }).appendRecords(ZONE, [rec(fresh(), 'slow')], { signal: signal() }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.retryable).toBe(true);
      expect((error as Error).message).toMatch(/^route53: change \/change\/C\w+ was still PENDING after 300 ms/);
    });

    it('stops waiting when the signal aborts', async () => {
      const fake = await fakeApi({ insyncAfterMs: 5000 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = Date.now();
      const error = await providerFor(fake, { pollIntervalMs: 1000 }).appendRecords(ZONE, [rec(fresh(), 'abort')], { signal: controller.signal }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.code).toBe('ABORTED');
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });

  describe('retries', () => {
    it('retries Throttling and PriorRequestNotComplete', async () => {
      const fake = await fakeApi();
      fake.failNext('ListResourceRecordSets', { status: 400, code: 'Throttling', message: 'Rate exceeded' }, 2);
      fake.failNext('ChangeResourceRecordSets', { status: 400, code: 'PriorRequestNotComplete', message: 'The request was rejected because Route 53 was still processing a prior request.' }, 2);
      const name = fresh();
      await providerFor(fake).appendRecords(ZONE, [rec(name, 'retried')], { signal: signal() });
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values).toEqual(['"retried"']);
      expect(fake.requests.filter((r) => r.code === 'Throttling' || r.code === 'PriorRequestNotComplete')).toHaveLength(4);
    });

    it('fails with a retryable error naming the AWS code after maxRetries', async () => {
      const fake = await fakeApi({ throttleRate: 1 });
      const error = await providerFor(fake, { maxRetries: 2 }).appendRecords(ZONE, [rec(fresh(), 'x')], { signal: signal() }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.retryable).toBe(true);
      expect((error as Error).message).toMatch(/^route53: ListHostedZonesByName failed: Throttling \(HTTP 400\): Rate exceeded \(after 3 attempts\)/);
      expect(fake.requests).toHaveLength(3);
    });

    it('aborts during back-off', async () => {
      const fake = await fakeApi({ throttleRate: 1 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 150);
      const error = await providerFor(fake, { maxRetries: 50 }).appendRecords(ZONE, [rec(fresh(), 'x')], { signal: controller.signal }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.code).toBe('ABORTED');
    });

    it('does not retry a permanent error (wrong access key)', async () => {
      const fake = await fakeApi();
      const provider = route53({ endpoint: fake.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDWRONG', secretAccessKey: 'x-secret' } });
      const error = await provider.listZones!({ signal: signal() }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.retryable).toBe(false);
      expect((error as Error).message).toContain('InvalidClientTokenId (HTTP 403)');
      expect((error as Error).message).toContain('Check the AWS credentials');
      expect(fake.requests).toHaveLength(1);
    });
  });

  describe('the SDK', () => {
    it('is loaded on first use, not by the factory', async () => {
      let loads = 0;
      const provider = createRoute53Provider({ credentials: CREDENTIALS }, { loadSdk: async () => { loads++; return import('@aws-sdk/client-route-53'); } });
      expect(loads).toBe(0);
      const fake = await fakeApi();
      const used = createRoute53Provider({ credentials: CREDENTIALS, endpoint: fake.endpoint }, { loadSdk: async () => { loads++; return import('@aws-sdk/client-route-53'); } });
      await used.listZones!({ signal: signal() });
      await used.listZones!({ signal: signal() });
      expect(loads).toBe(1);
      expect(provider.name).toBe('route53');
    });

    it('names the package to install when it is missing', async () => {
      const missing = Object.assign(new Error("Cannot find package '@aws-sdk/client-route-53' imported from /app/node_modules/certpilot/dist/providers/route53/index.js"), { code: 'ERR_MODULE_NOT_FOUND' });
      const provider = createRoute53Provider({}, { loadSdk: () => Promise.reject(missing) });
      const error = await provider.appendRecords(ZONE, [rec('_acme-challenge', 'v')], { signal: signal() }).catch((e: unknown) => e);
      expect(isCertpilotError(error) && error.code).toBe('DNS_PROVIDER_ERROR');
      expect((error as Error).message).toContain('npm install @aws-sdk/client-route-53');
      expect((error as Error).message).toMatch(/^route53: /);
    });

    it('uses a client you pass', async () => {
      const fake = await fakeApi();
      const { Route53Client } = await import('@aws-sdk/client-route-53');
      const client = new Route53Client({ endpoint: fake.endpoint, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
      const name = fresh();
      await route53({ client, pollIntervalMs: 25 }).appendRecords(ZONE, [rec(name, 'own-client')], { signal: signal() });
      expect(fake.recordSet(PUBLIC, fqdn(name))!.values).toEqual(['"own-client"']);
    });

    it('validates options up front', () => {
      expect(() => route53({ credentials: { accessKeyId: 'AKID', secretAccessKey: '' } })).toThrow(/route53: credentials needs accessKeyId and secretAccessKey/);
      expect(() => route53({ endpoint: 'not a url' })).toThrow(/route53: endpoint "not a url" is not a URL/);
      expect(() => route53({ maxRetries: -1 })).toThrow(/route53: maxRetries must be a number >= 0/);
    });
  });

  describe('secrets', () => {
    const SECRET = 'SECRETr53DoNotLeak/abc+123';
    const TOKEN = 'TOKENr53DoNotLeakSessionToken';
    const credentials = { accessKeyId: 'AKIDFAKEROUTE53', secretAccessKey: SECRET, sessionToken: TOKEN };

    /** Every text of an error a host may log: message, JSON, stack, and the cause chain. */
    function everything(error: unknown): string {
      const parts: string[] = [];
      for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
        parts.push(String(e), JSON.stringify(e) ?? '', (e as Error).stack ?? '', (e as Error).message ?? '');
      }
      return parts.join('\n');
    }

    it('never appear in any error message, even when AWS echoes the signed request', async () => {
      const fake = await fakeApi();
      const signatures = () => fake.requests.map((r) => /Signature=([0-9a-f]+)/.exec(String(r.headers.authorization))?.[1]).filter(Boolean) as string[];
      // What AWS says on a bad signature: the canonical request, with the session token header, and more.
      fake.failNext('ListHostedZonesByName', {
        status: 403,
        code: 'SignatureDoesNotMatch',
        message: (req) => `The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'GET\n/2013-04-01/hostedzonesbyname\n\nhost:${req.headers.host}\nx-amz-security-token:${req.headers['x-amz-security-token']}\n\nhost;x-amz-date;x-amz-security-token'\n\nAuthorization: ${req.headers.authorization}`,
      });
      fake.failNext('ListResourceRecordSets', { status: 403, code: 'AccessDenied', message: (req) => `User is not authorized (token ${req.headers['x-amz-security-token']}, ${req.headers.authorization}, secret ${SECRET})` });
      const provider = providerFor(fake, { credentials, maxRetries: 1 });
      const errors: unknown[] = [];
      errors.push(await provider.listZones!({ signal: signal() }).catch((e: unknown) => e));
      errors.push(await provider.appendRecords(ZONE, [rec(fresh(), 'v')], { signal: signal() }).catch((e: unknown) => e));
      fake.throttleRate = 1;
      errors.push(await provider.appendRecords(ZONE, [rec(fresh(), 'v')], { signal: signal() }).catch((e: unknown) => e));
      fake.throttleRate = 0;
      const wrongKey = route53({ endpoint: fake.endpoint, credentials: { ...credentials, accessKeyId: 'AKIDUNKNOWN' } });
      errors.push(await wrongKey.listZones!({ signal: signal() }).catch((e: unknown) => e));

      expect(errors.map((e) => (e as { details?: { awsCode?: string } }).details?.awsCode)).toEqual(['SignatureDoesNotMatch', 'AccessDenied', 'Throttling', 'InvalidClientTokenId']);
      expect(fake.requests.every((r) => r.headers['x-amz-security-token'] === TOKEN)).toBe(true);
      for (const error of errors) {
        const text = everything(error);
        expect((error as Error).message).toMatch(/^route53: /);
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(TOKEN);
        for (const signature of signatures()) expect(text).not.toContain(signature);
      }
    });
  });

  describe('the fake itself', () => {
    it('rejects unsigned requests with the AWS XML error', async () => {
      const fake = await fakeApi();
      const response = await fetch(`${fake.endpoint}/2013-04-01/hostedzone`);
      expect(response.status).toBe(403);
      expect(await response.text()).toMatch(/<ErrorResponse xmlns="https:\/\/route53\.amazonaws\.com\/doc\/2013-04-01\/"><Error><Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code>/);
    });

    it('rejects a DELETE that does not match, through the real SDK', async () => {
      const fake = await fakeApi();
      const { Route53Client, ChangeResourceRecordSetsCommand } = await import('@aws-sdk/client-route-53');
      const client = new Route53Client({ endpoint: fake.endpoint, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
      const name = fqdn(fresh());
      await fake.putRecordSet(PUBLIC, { name, type: 'TXT', ttl: 60, values: ['"a"', '"b"'] });
      const change = (Action: 'DELETE' | 'CREATE', values: string[], TTL = 60) =>
        client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: PUBLIC, ChangeBatch: { Changes: [{ Action, ResourceRecordSet: { Name: name, Type: 'TXT', TTL, ResourceRecords: values.map((Value) => ({ Value })) } }] } }));
      await expect(change('DELETE', ['"a"'])).rejects.toMatchObject({ name: 'InvalidChangeBatch', message: expect.stringContaining('do not match the current values') });
      await expect(change('DELETE', ['"a"', '"b"'], 300)).rejects.toMatchObject({ name: 'InvalidChangeBatch' });
      await expect(change('CREATE', ['"c"'])).rejects.toMatchObject({ message: expect.stringContaining('but it already exists') });
      await expect(change('DELETE', ['"b"', '"a"'])).resolves.toMatchObject({ ChangeInfo: { Status: 'PENDING' } });
      client.destroy();
    });
  });
});
