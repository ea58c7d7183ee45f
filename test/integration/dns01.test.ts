/** The DNS-01 solver and its DNS layer against a real pebble-challtestsrv. */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dns01Solver } from '../../src/challenges/dns01.js';
import { NodeDnsResolver } from '../../src/challenges/resolver.js';
import type { DnsProvider } from '../../src/challenges/provider.js';
import { challtestsrv, ChalltestsrvClient } from '../../providers/challtestsrv/index.js';
import { startChalltestsrv, type Challtestsrv } from '../helpers/challtestsrv.js';

let server: Challtestsrv;
let api: ChalltestsrvClient;
const resolver = new NodeDnsResolver();
const live = () => new AbortController().signal;

async function txt(name: string): Promise<string[]> {
  const result = await resolver.lookup(name, 'TXT', { servers: [server.dnsServer], timeoutMs: 2000 });
  return result.status === 'answer' ? result.values.sort() : [];
}

function solver(provider: DnsProvider, extra: { timeoutMs?: number; events?: string[] } = {}) {
  return new Dns01Solver({
    provider,
    propagation: { nameservers: [server.dnsServer], intervalMs: 50, timeoutMs: extra.timeoutMs ?? 5000 },
    onEvent: (type, e) => extra.events?.push(`${type} ${e.domain} ${e.recordName}`),
  });
}

beforeAll(async () => {
  server = await startChalltestsrv();
  api = new ChalltestsrvClient({ managementUrl: server.managementUrl });
});
afterAll(async () => { await server?.stop(); });

describe('Dns01Solver with challtestsrv', () => {
  it('presents apex and wildcard, sees both, and cleans up', async () => {
    const events: string[] = [];
    const s = solver(challtestsrv({ managementUrl: server.managementUrl }), { events });
    const presented = await s.present(
      [{ domain: 'solve.example.test', keyAuthorizationDigest: 'apex-digest' }, { domain: '*.solve.example.test', keyAuthorizationDigest: 'wild-digest' }],
      live(),
    );
    expect(await txt('_acme-challenge.solve.example.test.')).toEqual(['apex-digest', 'wild-digest']);
    expect(presented.zones).toEqual([{ zone: '.', records: expect.any(Array) }]);
    await s.cleanup(presented);
    expect(await txt('_acme-challenge.solve.example.test.')).toEqual([]);
    expect(events).toEqual([
      'presented solve.example.test _acme-challenge.solve.example.test.',
      'presented *.solve.example.test _acme-challenge.solve.example.test.',
      'propagated solve.example.test _acme-challenge.solve.example.test.',
      'propagated *.solve.example.test _acme-challenge.solve.example.test.',
      'cleaned solve.example.test _acme-challenge.solve.example.test.',
      'cleaned *.solve.example.test _acme-challenge.solve.example.test.',
    ]);
  });

  it('follows a CNAME set with /set-cname and puts the record at the target', async () => {
    await api.setCname('_acme-challenge.delegated.example.test.', 'delegated.acme.example.net.');
    try {
      const provider = challtestsrv({ managementUrl: server.managementUrl, zones: ['example.test.', 'acme.example.net.'] });
      const s = solver(provider);
      const presented = await s.present([{ domain: 'delegated.example.test', keyAuthorizationDigest: 'via-cname' }], live());
      expect(presented.challenges[0]).toMatchObject({ recordName: 'delegated.acme.example.net.', zone: 'acme.example.net.' });
      expect(presented.zones[0]!.records).toMatchObject([{ name: 'delegated', value: 'via-cname' }]);
      expect(await txt('delegated.acme.example.net.')).toEqual(['via-cname']);
      await s.cleanup(presented);
      expect(await txt('delegated.acme.example.net.')).toEqual([]);
    } finally {
      await api.clearCname('_acme-challenge.delegated.example.test.');
    }
  });

  it('leaves no record behind when the provider throws after creating', async () => {
    const inner = challtestsrv({ managementUrl: server.managementUrl });
    const flaky: DnsProvider = {
      name: 'flaky',
      listZones: (o) => inner.listZones!(o),
      async appendRecords(zone, records, o) {
        await inner.appendRecords(zone, records, o);
        throw new Error('lost the answer after creating');
      },
      deleteRecords: (zone, records, o) => inner.deleteRecords(zone, records, o),
    };
    const error = await solver(flaky).present([{ domain: 'flaky.example.test', keyAuthorizationDigest: 'orphan' }], live()).catch((e) => e);
    expect(error.code).toBe('DNS_PROVIDER_ERROR');
    expect(error.message).toBe('flaky: could not create TXT records in zone .: lost the answer after creating');
    expect(await txt('_acme-challenge.flaky.example.test.')).toEqual([]);
  });

  it('times out naming the record and the server when the record never appears', async () => {
    const nothing: DnsProvider = { name: 'nothing', listZones: async () => ['.'], appendRecords: async (_z, r) => r, deleteRecords: async (_z, r) => r };
    const error = await solver(nothing, { timeoutMs: 300 }).present([{ domain: 'never.example.test', keyAuthorizationDigest: 'x' }], live()).catch((e) => e);
    expect(error.code).toBe('DNS_PROPAGATION_TIMEOUT');
    expect(error.message).toContain(`_acme-challenge.never.example.test. at ${server.dnsServer} (no TXT record)`);
  });

  it('explains that challtestsrv cannot be used for SOA zone discovery', async () => {
    const inner = challtestsrv({ managementUrl: server.managementUrl });
    const noList: DnsProvider = { name: 'nolist', appendRecords: inner.appendRecords, deleteRecords: inner.deleteRecords };
    const error = await solver(noList).present([{ domain: 'soa.example.test', keyAuthorizationDigest: 'x' }], live()).catch((e) => e);
    expect(error.code).toBe('DNS_LOOKUP_FAILED');
    expect(error.message).toContain('NOTIMP');
    expect(error.message).toContain('zone list');
  });
});

describe('NodeDnsResolver', () => {
  it('tells answers, NODATA and failures apart', async () => {
    await api.setTxt('multi.example.test.', 'one');
    const servers = [server.dnsServer];
    expect(await resolver.lookup('Multi.Example.test', 'TXT', { servers })).toEqual({ status: 'answer', values: ['one'] });
    expect(await resolver.lookup('unknown.example.test.', 'TXT', { servers })).toEqual({ status: 'nodata' });
    expect(await resolver.lookup('unknown.example.test.', 'CNAME', { servers })).toEqual({ status: 'nodata' });
    await expect(resolver.lookup('example.test.', 'SOA', { servers })).rejects.toMatchObject({
      code: 'DNS_LOOKUP_FAILED', retryable: true, details: { reason: 'ENOTIMP' },
    });
  });

  describe('with a server that never answers', () => {
    let silent: dgram.Socket;
    let address: string;
    beforeAll(async () => {
      silent = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
      address = `127.0.0.1:${silent.address().port}`;
    });
    afterAll(() => { silent.close(); });

    it('times out within the bound', async () => {
      const started = Date.now();
      const error = await resolver.lookup('slow.example.test.', 'TXT', { servers: [address], timeoutMs: 300 }).catch((e) => e);
      expect(error.code).toBe('DNS_LOOKUP_FAILED');
      expect(error.message).toContain(`at ${address} timed out`);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('stops at once when aborted', async () => {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 50);
      const error = await resolver.lookup('slow.example.test.', 'TXT', { servers: [address], timeoutMs: 5000, signal: controller.signal }).catch((e) => e);
      expect(error.code).toBe('ABORTED');
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });
});
