/**
 * The Cloudflare provider against a wire-faithful fake of the API v4: the
 * shared conformance suite (records published into challtestsrv, Pebble
 * validating there, with rate limiting and small pages on), then the
 * Cloudflare-specific behaviour.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cloudflare, meta } from '../../providers/cloudflare/index.js';
import { quoteTxt, unquoteTxt } from '../../providers/cloudflare/txt.js';
import { parseRetryAfter } from '../../providers/cloudflare/api.js';
import { providerError } from '../../src/challenges/provider-errors.js';
import { isCertpilotError, scrub } from '../../src/errors.js';
import type { DnsRecord } from '../../src/challenges/provider.js';
import { describeProviderConformance } from '../helpers/provider-conformance.js';
import { startChalltestsrv } from '../helpers/challtestsrv.js';
import { challtestsrvPublisher } from '../helpers/dns-publisher.js';
import { startFakeCloudflare, type FakeCloudflare, type FakeCloudflareOptions } from './fakes/cloudflare.js';

const TOKEN = 'cf-test-token-full-0123';
const signal = () => new AbortController().signal;
const rec = (name: string, value: string): DnsRecord => ({ type: 'TXT', name, value, ttl: 60 });

/** The fake behind the conformance run, kept to check afterwards that it exercised retries and paging. */
let conformanceFake: FakeCloudflare | undefined;

describeProviderConformance('cloudflare (fake API)', async () => {
  const dns = await startChalltestsrv();
  const fake = (conformanceFake = await startFakeCloudflare({
    // More zones than one page holds, so the core's listZones call pages too.
    zones: ['example.test', 'alpha.test', 'beta.test', 'gamma.test', 'delta.test'],
    tokens: { [TOKEN]: { permissions: ['zone:read', 'dns:edit'] } },
    publisher: challtestsrvPublisher(dns.managementUrl),
    publishDelayMs: 150,
    // The suite's end-to-end test checks that the challenge values are gone right after
    // provision() returns, without waiting: deletions become visible before DELETE answers.
    removalDelayMs: 0,
    maxPerPage: 2,
    rateLimit: { every: 5, retryAfterSeconds: 0 },
  }));
  return {
    provider: cloudflare({ apiToken: TOKEN, endpoint: fake.endpoint }),
    zone: 'example.test.',
    dnsServer: dns.dnsServer,
    // Unquoted, as older tools and people in the dashboard write TXT content.
    addForeignRecord: async (name, value) => { fake.backdoor.addRecord('example.test', `${name}.example.test`, value); },
    propagationMs: 5000,
    close: async () => {
      await fake.close();
      await dns.stop();
    },
  };
});

describe('cloudflare (fake API): the conformance run', () => {
  it('went through rate limiting and multi-page listings', () => {
    const requests = conformanceFake?.requests ?? [];
    expect(requests.filter((r) => r.status === 429).length).toBeGreaterThan(3);
    expect(requests.some((r) => r.path === '/zones' && r.query.page === '3' && r.status === 200)).toBe(true);
    expect(conformanceFake?.backdoor.records().map((r) => r.content)).toEqual(['not-ours']); // everything of ours is gone
  });
});

describe('cloudflare provider', () => {
  let fake: FakeCloudflare | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  async function start(overrides: Partial<FakeCloudflareOptions> = {}): Promise<FakeCloudflare> {
    fake = await startFakeCloudflare({
      zones: ['example.test'],
      tokens: { [TOKEN]: { permissions: ['zone:read', 'dns:edit'] } },
      maxPerPage: 2,
      ...overrides,
    });
    return fake;
  }

  it('has the name of its subpath', () => {
    expect(meta.name).toBe('cloudflare');
    expect(cloudflare({ apiToken: TOKEN }).name).toBe('cloudflare');
  });

  it('creates quoted TXT content at the absolute name and returns the record id', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const created = await provider.appendRecords('example.test.', [rec('_acme-challenge.www', 'Abc-_123'), { ...rec('@', 'apex'), ttl: 5 }], { signal: signal() });
    const stored = api.backdoor.records('example.test');
    expect(stored.map((r) => [r.name, r.content, r.ttl])).toEqual([
      ['_acme-challenge.www.example.test', '"Abc-_123"', 60],
      ['example.test', '"apex"', 60], // Cloudflare refuses TTLs under 60 s
    ]);
    expect(created).toEqual([
      { ...rec('_acme-challenge.www', 'Abc-_123'), providerData: { id: stored[0]!.id } },
      { ...rec('@', 'apex'), ttl: 5, providerData: { id: stored[1]!.id } },
    ]);
    expect(stored[0]!.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('a token without DNS:Edit fails with a message that names the apiToken and the permission, never the token', async () => {
    const api = await start({ tokens: { [TOKEN]: { permissions: ['zone:read'] } } });
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const error = await provider.appendRecords('example.test.', [rec('_acme-challenge', 'v')], { signal: signal() }).catch((e: unknown) => e);
    expect(isCertpilotError(error) && error.code).toBe('DNS_PROVIDER_ERROR');
    const message = (error as Error).message;
    expect(message).toMatch(/^cloudflare: create TXT record at _acme-challenge\.example\.test failed: Cloudflare refused the apiToken\. HTTP 403: 10000 Authentication error\./);
    expect(message).toContain('DNS:Edit');
    expect(message).not.toContain(TOKEN);
    expect((error as { retryable: boolean }).retryable).toBe(false);
    // The core wraps provider errors and scrubs them again: the advice must survive that.
    expect(scrub(message)).toBe(message);
    const wrapped = providerError('cloudflare', 'create TXT records in zone example.test.', error);
    expect(wrapped.message).toContain('Cloudflare refused the apiToken. HTTP 403');
    expect(wrapped.message).toContain('grant it to the apiToken.');
  });

  it('a zone lookup refused names Zone:Read and the token it was sent with', async () => {
    const api = await start({ tokens: { [TOKEN]: { permissions: ['dns:edit'] }, 'cf-zone-token-9': { permissions: ['dns:read'] } } });
    const plain = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const first = (await plain.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error;
    expect(first.message).toContain('look up zone example.test failed: Cloudflare refused the apiToken.');
    expect(first.message).toContain('Zone:Read');
    expect(first.message).toContain('or pass zoneId');
    const split = cloudflare({ apiToken: TOKEN, zoneToken: 'cf-zone-token-9', endpoint: api.endpoint });
    const second = (await split.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error;
    expect(second.message).toContain('Cloudflare refused the zoneToken.');
    expect(second.message).not.toContain('cf-zone-token-9');
    const unknown = cloudflare({ apiToken: 'cf-unknown-token', endpoint: api.endpoint });
    const third = (await unknown.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error;
    expect(third.message).toContain('HTTP 401: 10000 Authentication error');
    expect(third.message).not.toContain('cf-unknown-token');
  });

  it('a zone the token cannot see is a clear error', async () => {
    const api = await start({ tokens: { [TOKEN]: { permissions: ['zone:read', 'dns:edit'], zones: ['other.test'] } }, zones: ['example.test', 'other.test'] });
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const error = (await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('cloudflare: no zone named example.test is visible to the apiToken. Check that the zone is in the account and that Zone:Read on it is granted to the apiToken, or pass zoneId.');
    expect(isCertpilotError(error) && error.code).toBe('DNS_ZONE_NOT_FOUND');
  });

  it('never repeats a token, even when an answer echoes it', async () => {
    const echo = (async (_url: string | URL | Request, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get('authorization') ?? '';
      return new Response(JSON.stringify({ success: false, errors: [{ code: 9999, message: `you sent ${auth.slice(7)}` }], messages: [], result: null }), { status: 400 });
    }) as typeof globalThis.fetch;
    const provider = cloudflare({ apiToken: TOKEN, zoneId: 'a'.repeat(32), fetch: echo });
    const error = (await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('cloudflare: create TXT record at x.example.test failed: HTTP 400: 9999 you sent [redacted]');
  });

  it('uses the zoneToken for zone lookups only, and the apiToken for records', async () => {
    const api = await start({ tokens: { 'cf-zone-read': { permissions: ['zone:read'] }, 'cf-dns-edit': { permissions: ['dns:edit'] } } });
    const provider = cloudflare({ apiToken: 'cf-dns-edit', zoneToken: 'cf-zone-read', endpoint: api.endpoint });
    const created = await provider.appendRecords('example.test.', [rec('_acme-challenge', 'one')], { signal: signal() });
    await provider.deleteRecords('example.test.', [rec('_acme-challenge', 'one')], { signal: signal() }); // by lookup
    await provider.deleteRecords('example.test.', created, { signal: signal() }); // by id, already gone
    expect(await provider.listZones!({ signal: signal() })).toEqual(['example.test.']);
    const zoneCalls = api.requests.filter((r) => r.path === '/zones');
    const recordCalls = api.requests.filter((r) => r.path.includes('/dns_records'));
    expect(zoneCalls.length).toBe(2);
    expect(recordCalls.map((r) => r.method)).toEqual(['POST', 'GET', 'DELETE', 'DELETE']);
    expect(new Set(zoneCalls.map((r) => r.token))).toEqual(new Set(['cf-zone-read']));
    expect(new Set(recordCalls.map((r) => r.token))).toEqual(new Set(['cf-dns-edit']));
    expect(api.backdoor.records()).toEqual([]);
  });

  it('with zoneId it never looks zones up, needs DNS:Edit only, and leaves zone discovery to the core', async () => {
    const api = await start({ tokens: { [TOKEN]: { permissions: ['dns:edit'] } } });
    const provider = cloudflare({ apiToken: TOKEN, zoneId: api.backdoor.zoneId('example.test').toUpperCase(), endpoint: api.endpoint });
    expect(provider.listZones).toBeUndefined();
    const created = await provider.appendRecords('example.test.', [rec('_acme-challenge', 'v')], { signal: signal() });
    expect(await provider.deleteRecords('example.test.', created, { signal: signal() })).toEqual(created);
    expect(api.requests.map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{32}/g, ':id')}`)).toEqual([
      'POST /zones/:id/dns_records',
      'DELETE /zones/:id/dns_records/:id',
    ]);
  });

  it('a wrong zoneId says so', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, zoneId: '0'.repeat(32), endpoint: api.endpoint });
    const error = (await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('HTTP 404: 7003');
    expect(error.message).toContain('if zoneId is set, check it');
  });

  it('caches the zone id: one lookup for many calls, none after listZones', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    for (const value of ['a', 'b', 'c']) await provider.appendRecords('example.test.', [rec('_acme-challenge', value)], { signal: signal() });
    expect(api.requests.filter((r) => r.path === '/zones')).toHaveLength(1);
    const listed = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    await listed.listZones!({ signal: signal() });
    await listed.appendRecords('example.test.', [rec('_acme-challenge', 'd')], { signal: signal() });
    expect(api.requests.filter((r) => r.path === '/zones')).toHaveLength(2);
  });

  it('looks a zone up again when Cloudflare no longer knows the cached id (zone re-added)', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const before = await provider.appendRecords('example.test.', [rec('_acme-challenge', 'before')], { signal: signal() });
    const newId = api.backdoor.recreateZone('example.test');
    // Against the stale id a delete is an error, not "already gone" (and the id is forgotten)…
    await expect(provider.deleteRecords('example.test.', before, { signal: signal() })).rejects.toThrow(/HTTP 404: 7003 .* if zoneId is set, check it/);
    // …so the next calls look the zone up again.
    expect(await provider.deleteRecords('example.test.', before, { signal: signal() })).toEqual([]);
    await provider.appendRecords('example.test.', [rec('_acme-challenge', 'after')], { signal: signal() });
    expect(api.backdoor.records().map((r) => [r.zone_id, r.content])).toEqual([[newId, '"after"']]);
    expect(api.requests.filter((r) => r.path === '/zones')).toHaveLength(2);
    api.backdoor.recreateZone('example.test');
    await expect(provider.appendRecords('example.test.', [rec('_acme-challenge', 'x')], { signal: signal() })).rejects.toThrow(/HTTP 404: 7003/);
    await provider.appendRecords('example.test.', [rec('_acme-challenge', 'x')], { signal: signal() });
    expect(api.requests.filter((r) => r.path === '/zones')).toHaveLength(3);
  });

  it('an identical record (81058) counts as created and its id is returned', async () => {
    const api = await start();
    for (const other of ['x1', 'x2', 'x3']) api.backdoor.addRecord('example.test', '_acme-challenge.example.test', `"${other}"`);
    const existing = api.backdoor.addRecord('example.test', '_acme-challenge.example.test', '"same-value"');
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const created = await provider.appendRecords('example.test.', [rec('_acme-challenge', 'same-value')], { signal: signal() });
    expect(created[0]!.providerData).toEqual({ id: existing.id });
    expect(api.requests.find((r) => r.method === 'POST')!.status).toBe(400);
    expect(api.backdoor.records().filter((r) => r.content === '"same-value"')).toHaveLength(1);
  });

  it('retries 429 after Retry-After, and 5xx with backoff', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    api.backdoor.failNext(1, 429, 1);
    const started = Date.now();
    await provider.appendRecords('example.test.', [rec('_acme-challenge', 'after-429')], { signal: signal() });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    api.backdoor.failNext(2, 503);
    await provider.appendRecords('example.test.', [rec('_acme-challenge', 'after-503')], { signal: signal() });
    expect(api.requests.map((r) => r.status)).toEqual([429, 200, 200, 503, 503, 200]);
    expect(api.backdoor.records().map((r) => r.content)).toEqual(['"after-429"', '"after-503"']);
  });

  it('gives up after maxRetries, or when Retry-After is too long, with a retryable error', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint, maxRetries: 1 });
    api.backdoor.failNext(3, 502);
    const error = (await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error & { retryable: boolean };
    expect(error.message).toMatch(/look up zone example\.test failed: HTTP 502: 10001 service temporarily unavailable \(gave up after 2 attempts\)$/);
    expect(error.retryable).toBe(true);
    api.backdoor.failNext(1, 429, 300);
    const started = Date.now();
    const limited = (await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error & { retryable: boolean };
    expect(Date.now() - started).toBeLessThan(1000);
    expect(limited.message).toContain('HTTP 429: 971 Please wait and consider throttling your request speed (Cloudflare asks to wait 300 s before trying again)');
    expect(limited.retryable).toBe(true);
  });

  it('listZones follows every page and lists only active zones', async () => {
    const names = ['a.test', 'b.test', 'c.test', 'd.test', 'e.test', 'f.test', 'g.test'];
    const api = await start({ zones: [...names, { name: 'gone.test', status: 'moved' }] });
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    expect((await provider.listZones!({ signal: signal() })).sort()).toEqual(names.map((n) => `${n}.`));
    expect(api.requests.map((r) => r.query.page)).toEqual(['1', '2', '3', '4']);
  });

  it('deleting without providerData follows pages and deletes exactly that value (case matters)', async () => {
    const api = await start();
    const name = '_acme-challenge.example.test';
    // Cloudflare's content filter ignores case: all of these match the filter, none is ours.
    for (const lookalike of ['VALUE-abc', 'Value-Abc', 'value-ABC', 'vALUE-abc']) api.backdoor.addRecord('example.test', name, `"${lookalike}"`);
    api.backdoor.addRecord('example.test', name, '"another-value"');
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    await provider.appendRecords('example.test.', [rec('_acme-challenge', 'value-abc')], { signal: signal() });
    const deleted = await provider.deleteRecords('example.test.', [rec('_acme-challenge', 'value-abc')], { signal: signal() });
    expect(deleted).toEqual([rec('_acme-challenge', 'value-abc')]);
    expect(api.backdoor.records().map((r) => r.content).sort()).toEqual(['"VALUE-abc"', '"Value-Abc"', '"another-value"', '"vALUE-abc"', '"value-ABC"']);
    const lookups = api.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/dns_records'));
    expect(lookups.map((r) => r.query.page)).toEqual(['1', '2', '3']);
    expect(lookups[0]!.query).toMatchObject({ type: 'TXT', name, content: '"value-abc"' });
  });

  it('deleting what is already gone resolves (404 with 81044, or nothing found)', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const created = await provider.appendRecords('example.test.', [rec('_acme-challenge', 'v')], { signal: signal() });
    expect(await provider.deleteRecords('example.test.', created, { signal: signal() })).toHaveLength(1);
    expect(await provider.deleteRecords('example.test.', created, { signal: signal() })).toEqual([]);
    expect(api.requests.at(-1)).toMatchObject({ method: 'DELETE', status: 404 });
    expect(await provider.deleteRecords('example.test.', [rec('_acme-challenge', 'v')], { signal: signal() })).toEqual([]);
  });

  it('stops with ABORTED before any request, and during a Retry-After wait', async () => {
    const api = await start();
    const provider = cloudflare({ apiToken: TOKEN, endpoint: api.endpoint });
    const controller = new AbortController();
    controller.abort();
    const before = await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: controller.signal }).catch((e: unknown) => e);
    expect(isCertpilotError(before) && before.code).toBe('ABORTED');
    expect(api.requests).toEqual([]);
    api.backdoor.failNext(1, 429, 30);
    const waiting = new AbortController();
    setTimeout(() => waiting.abort(), 100);
    const started = Date.now();
    const during = await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: waiting.signal }).catch((e: unknown) => e);
    expect(isCertpilotError(during) && during.code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(api.backdoor.records()).toEqual([]);
  });

  it('a network failure is retryable and names the address, not the token', async () => {
    const api = await start();
    const endpoint = api.endpoint;
    await api.close();
    fake = undefined;
    const provider = cloudflare({ apiToken: TOKEN, endpoint, maxRetries: 0 });
    const error = (await provider.appendRecords('example.test.', [rec('x', 'v')], { signal: signal() }).catch((e: unknown) => e)) as Error & { retryable: boolean };
    expect(error.message).toMatch(/^cloudflare: look up zone example\.test failed: could not reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(gave up after 1 attempt\)$/);
    expect(error.retryable).toBe(true);
  });

  it('checks its options without echoing tokens', () => {
    const error = (() => { try { cloudflare({ apiToken: TOKEN, zoneId: 'example.com' }); } catch (e) { return e; } })();
    expect(isCertpilotError(error) && error.code).toBe('INVALID_OPTIONS');
    expect(() => cloudflare({ apiToken: '' })).toThrow(/apiToken must be a non-empty Cloudflare API token/);
    expect(() => cloudflare({ apiToken: undefined as unknown as string })).toThrow(/CLOUDFLARE_API_TOKEN/);
    expect(() => cloudflare({ apiToken: 'abc def' })).toThrow(/^cloudflare: apiToken contains spaces/);
    expect(() => cloudflare({ apiToken: TOKEN, zoneId: 'example.com' })).toThrow(/32 hex digits/);
    expect(() => cloudflare({ apiToken: TOKEN, endpoint: 'not a url' })).toThrow(/endpoint "not a url" is not a URL/);
    expect(() => cloudflare({ apiToken: TOKEN, maxRetries: -1 })).toThrow(/maxRetries must be a non-negative number/);
    expect(() => cloudflare({ apiToken: ` ${TOKEN}\n` })).not.toThrow();
  });
});

describe('cloudflare TXT content', () => {
  it('quotes values and reads quoted and unquoted content back', () => {
    expect(quoteTxt('abc')).toBe('"abc"');
    expect(quoteTxt('a"b\\c')).toBe('"a\\"b\\\\c"');
    for (const value of ['abc', 'a"b\\c', 'x'.repeat(300), '']) expect(unquoteTxt(quoteTxt(value))).toBe(value);
    expect(unquoteTxt('"part one " "part two"')).toBe('part one part two');
    expect(unquoteTxt('"\\065BC"')).toBe('ABC');
    expect(unquoteTxt('plain text')).toBe('plain text');
    expect(unquoteTxt('"unterminated')).toBe('"unterminated');
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
