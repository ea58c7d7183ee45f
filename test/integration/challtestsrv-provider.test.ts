/** The challtestsrv provider against a real pebble-challtestsrv: what it writes is what DNS answers. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challtestsrv, ChalltestsrvClient } from '../../providers/challtestsrv/index.js';
import { NodeDnsResolver } from '../../src/challenges/resolver.js';
import type { DnsProvider } from '../../src/challenges/provider.js';
import { startChalltestsrv, type Challtestsrv } from '../helpers/challtestsrv.js';
import { freePort } from '../helpers/ports.js';
import { describeProviderConformance } from '../helpers/provider-conformance.js';

let server: Challtestsrv;
let provider: DnsProvider;
const resolver = new NodeDnsResolver();
const signal = new AbortController().signal;
const rec = (name: string, value: string) => ({ type: 'TXT' as const, name, value, ttl: 60 });

/** The TXT values DNS answers for `name` ([] when none). */
async function txt(name: string): Promise<string[]> {
  const result = await resolver.lookup(name, 'TXT', { servers: [server.dnsServer], timeoutMs: 2000 });
  return result.status === 'answer' ? result.values.sort() : [];
}

beforeAll(async () => {
  server = await startChalltestsrv();
  provider = challtestsrv({ managementUrl: server.managementUrl, zones: ['example.test.'] });
});
afterAll(async () => { await server?.stop(); });

describe('challtestsrv provider', () => {
  it('makes appended records visible over DNS', async () => {
    const created = await provider.appendRecords('example.test.', [rec('_acme-challenge.visible', 'value-1')], { signal });
    expect(created).toEqual([rec('_acme-challenge.visible', 'value-1')]);
    expect(await txt('_acme-challenge.visible.example.test.')).toEqual(['value-1']);
  });

  it('keeps two values at one name, and deleting one keeps the other', async () => {
    const name = '_acme-challenge.two.example.test.';
    await provider.appendRecords('example.test.', [rec('_acme-challenge.two', 'apex')], { signal });
    await provider.appendRecords('example.test.', [rec('_acme-challenge.two', 'wildcard')], { signal });
    expect(await txt(name)).toEqual(['apex', 'wildcard']);
    await provider.deleteRecords('example.test.', [rec('_acme-challenge.two', 'apex')], { signal });
    expect(await txt(name)).toEqual(['wildcard']);
    await provider.deleteRecords('example.test.', [rec('_acme-challenge.two', 'apex')], { signal }); // twice is fine
    expect(await txt(name)).toEqual(['wildcard']);
    await provider.deleteRecords('example.test.', [rec('_acme-challenge.two', 'wildcard')], { signal });
    expect(await txt(name)).toEqual([]);
    await expect(provider.deleteRecords('example.test.', [rec('_acme-challenge.two', 'wildcard')], { signal })).resolves.toEqual([]);
  });

  it('works with the default root zone, absolute names included', async () => {
    const root = challtestsrv({ managementUrl: server.managementUrl });
    const [zone] = await root.listZones!({ signal });
    expect(zone).toBe('.');
    await root.appendRecords(zone!, [rec('_acme-challenge.root.example.org', 'r')], { signal });
    expect(await txt('_acme-challenge.root.example.org.')).toEqual(['r']);
    await root.deleteRecords(zone!, [rec('_acme-challenge.root.example.org', 'r')], { signal });
    expect(await txt('_acme-challenge.root.example.org.')).toEqual([]);
  });

  it('answers the apex as @', async () => {
    await provider.appendRecords('apex.example.test.', [rec('@', 'at-apex')], { signal });
    expect(await txt('apex.example.test.')).toEqual(['at-apex']);
    await provider.deleteRecords('apex.example.test.', [rec('@', 'at-apex')], { signal });
    expect(await txt('apex.example.test.')).toEqual([]);
  });

  it('fails with a retryable provider error naming the address when nothing listens', async () => {
    const port = await freePort();
    const down = challtestsrv({ managementUrl: `http://127.0.0.1:${port}` });
    const error = await down.appendRecords('.', [rec('x.example.test', 'v')], { signal }).catch((e) => e);
    expect(error.code).toBe('DNS_PROVIDER_ERROR');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`challtestsrv: POST /set-txt to http://127.0.0.1:${port} failed: ECONNREFUSED`);
  });

  it('stops with ABORTED when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(provider.appendRecords('example.test.', [rec('aborted', 'v')], { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('without dnsServer keeps only its own values; with it, keeps foreign ones too', async () => {
    const api = new ChalltestsrvClient({ managementUrl: server.managementUrl });
    const name = '_acme-challenge.foreign.example.test.';
    await api.setTxt(name, 'not-ours');
    await provider.appendRecords('example.test.', [rec('_acme-challenge.foreign', 'ours')], { signal });
    await provider.deleteRecords('example.test.', [rec('_acme-challenge.foreign', 'ours')], { signal });
    expect(await txt(name)).toEqual([]); // the documented limit

    const exact = challtestsrv({ managementUrl: server.managementUrl, dnsServer: server.dnsServer });
    await api.setTxt(name, 'not-ours');
    await exact.appendRecords('.', [rec(name, 'ours')], { signal });
    expect(await txt(name)).toEqual(['not-ours', 'ours']);
    await exact.deleteRecords('.', [rec(name, 'ours')], { signal });
    expect(await txt(name)).toEqual(['not-ours']);
    await api.clearTxt(name);
  });
});

describeProviderConformance('challtestsrv', async () => {
  const own = await startChalltestsrv();
  const api = new ChalltestsrvClient({ managementUrl: own.managementUrl });
  return {
    provider: challtestsrv({ managementUrl: own.managementUrl, dnsServer: own.dnsServer, zones: ['example.test.'] }),
    zone: 'example.test.',
    dnsServer: own.dnsServer,
    addForeignRecord: (name, value) => api.setTxt(`${name}.example.test.`, value),
    close: () => own.stop(),
  };
});
