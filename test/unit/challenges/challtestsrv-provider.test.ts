/** The challtestsrv provider's bookkeeping, against a fake management API (no network). */
import { describe, expect, it } from 'vitest';
import { challtestsrv, meta } from '../../../providers/challtestsrv/index.js';

/** A fake management API with challtestsrv's semantics: set adds (duplicates too), clear removes all. */
function fakeServer(options: { failPath?: string; status?: number } = {}) {
  const txt = new Map<string, string[]>();
  const log: string[] = [];
  const fetch = (async (url: string | URL, init?: RequestInit) => {
    const path = new URL(String(url)).pathname;
    const body = JSON.parse(String(init?.body)) as { host: string; value?: string };
    log.push(`${path} ${body.host}${body.value ? ` ${body.value}` : ''}`);
    if (path === options.failPath) return new Response('nope: secret=hunter2hunter2', { status: options.status ?? 500 });
    if (path === '/set-txt') txt.set(body.host, [...(txt.get(body.host) ?? []), body.value!]);
    if (path === '/clear-txt') txt.delete(body.host);
    return new Response(null, { status: 200 });
  }) as typeof globalThis.fetch;
  return { txt, log, fetch };
}

const signal = new AbortController().signal;
const rec = (name: string, value: string) => ({ type: 'TXT' as const, name, value, ttl: 60 });

describe('challtestsrv provider (fake API)', () => {
  it('has the name of its subpath and lists the root zone by default', async () => {
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1', fetch: fakeServer().fetch });
    expect(provider.name).toBe('challtestsrv');
    expect(meta.name).toBe('challtestsrv');
    expect(await provider.listZones!({ signal })).toEqual(['.']);
    const custom = challtestsrv({ managementUrl: 'http://127.0.0.1:1', zones: ['Example.test', 'other.test.'] });
    expect(await custom.listZones!({ signal })).toEqual(['example.test.', 'other.test.']);
  });

  it('sends absolute host names built from zone and relative name', async () => {
    const server = fakeServer();
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1/', fetch: server.fetch });
    await provider.appendRecords('example.test.', [rec('_acme-challenge.www', 'a'), rec('@', 'b')], { signal });
    await provider.appendRecords('.', [rec('_acme-challenge.x.test', 'c')], { signal });
    expect(server.log).toEqual([
      '/set-txt _acme-challenge.www.example.test. a',
      '/set-txt example.test. b',
      '/set-txt _acme-challenge.x.test. c',
    ]);
  });

  it('deletes one value and re-adds the others; deleting again is a no-op', async () => {
    const server = fakeServer();
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1', fetch: server.fetch });
    await provider.appendRecords('example.test.', [rec('_acme-challenge', 'apex'), rec('_acme-challenge', 'wild')], { signal });
    expect(await provider.deleteRecords('example.test.', [rec('_acme-challenge', 'apex')], { signal })).toHaveLength(1);
    expect(server.txt.get('_acme-challenge.example.test.')).toEqual(['wild']);
    server.log.length = 0;
    expect(await provider.deleteRecords('example.test.', [rec('_acme-challenge', 'apex')], { signal })).toEqual([]);
    expect(server.log).toEqual([]);
    await provider.deleteRecords('example.test.', [rec('_acme-challenge', 'wild')], { signal });
    expect(server.txt.has('_acme-challenge.example.test.')).toBe(false);
  });

  it('counts a value appended twice and keeps it until the second delete', async () => {
    const server = fakeServer();
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1', fetch: server.fetch });
    await provider.appendRecords('example.test.', [rec('x', 'same')], { signal });
    await provider.appendRecords('example.test.', [rec('x', 'same')], { signal });
    expect(server.txt.get('x.example.test.')).toEqual(['same']); // no duplicate answer in DNS
    await provider.deleteRecords('example.test.', [rec('x', 'same')], { signal });
    expect(server.txt.get('x.example.test.')).toEqual(['same']);
    await provider.deleteRecords('example.test.', [rec('x', 'same')], { signal });
    expect(server.txt.has('x.example.test.')).toBe(false);
  });

  it('serializes concurrent operations on one host', async () => {
    const server = fakeServer();
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1', fetch: server.fetch });
    await provider.appendRecords('example.test.', [rec('x', '1'), rec('x', '2')], { signal });
    await Promise.all([
      provider.deleteRecords('example.test.', [rec('x', '1')], { signal }),
      provider.appendRecords('example.test.', [rec('x', '3')], { signal }),
      provider.deleteRecords('example.test.', [rec('x', '2')], { signal }),
    ]);
    expect(server.txt.get('x.example.test.')).toEqual(['3']);
  });

  it('names itself in errors, scrubs the answer, and marks 4xx as permanent', async () => {
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1', fetch: fakeServer({ failPath: '/set-txt', status: 400 }).fetch });
    const error = await provider.appendRecords('example.test.', [rec('x', 'v')], { signal }).catch((e) => e);
    expect(error.code).toBe('DNS_PROVIDER_ERROR');
    expect(error.message).toMatch(/^challtestsrv: POST \/set-txt answered 400/);
    expect(error.message).not.toContain('hunter2hunter2');
    expect(error.retryable).toBe(false);
  });

  it('rejects with ABORTED and records nothing when the signal has fired', async () => {
    const server = fakeServer();
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1', fetch: server.fetch });
    const controller = new AbortController();
    controller.abort();
    await expect(provider.appendRecords('example.test.', [rec('x', 'v')], { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(provider.deleteRecords('example.test.', [rec('x', 'v')], { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(server.log).toEqual([]);
  });

  it('refuses a dnsServer that is not ip:port', () => {
    expect(() => challtestsrv({ managementUrl: 'http://127.0.0.1:1', dnsServer: 'localhost:8053' })).toThrow(/IP addresses/);
  });

  it('refuses a missing or malformed managementUrl and non-TXT records', async () => {
    expect(() => challtestsrv({} as never)).toThrow(/managementUrl is required/);
    expect(() => challtestsrv({ managementUrl: 'not a url' })).toThrow(/not a URL/);
    const provider = challtestsrv({ managementUrl: 'http://127.0.0.1:1', fetch: fakeServer().fetch });
    await expect(provider.appendRecords('example.test.', [{ ...rec('x', 'v'), type: 'A' as never }], { signal })).rejects.toThrow(/only TXT/);
  });
});
