import { describe, expect, it } from 'vitest';
import { absoluteName, isInZone, relativeName, ZoneFinder } from '../../../src/challenges/zones.js';
import { FakeProvider, FakeResolver } from './fakes.js';

const signal = new AbortController().signal;
const opts = { signal, domain: 'www.example.com' };

describe('zone names', () => {
  it('makes names relative to a zone, @ for the apex', () => {
    expect(relativeName('_acme-challenge.www.example.com.', 'example.com.')).toBe('_acme-challenge.www');
    expect(relativeName('Example.COM', 'example.com.')).toBe('@');
    expect(relativeName('_acme-challenge.example.com.', '.')).toBe('_acme-challenge.example.com');
    expect(() => relativeName('a.example.org.', 'example.com.')).toThrow(/not inside zone/);
  });

  it('does not mistake a shared suffix for a parent zone', () => {
    expect(isInZone('a.notexample.com.', 'example.com.')).toBe(false);
    expect(isInZone('a.example.com.', 'example.com.')).toBe(true);
    expect(isInZone('anything.', '.')).toBe(true);
  });

  it('turns relative names back into FQDNs', () => {
    expect(absoluteName('@', 'example.com.')).toBe('example.com.');
    expect(absoluteName('_acme-challenge.www', 'example.com')).toBe('_acme-challenge.www.example.com.');
    expect(absoluteName('a.example.com', '.')).toBe('a.example.com.');
    expect(absoluteName('Abs.Example.com.', 'other.')).toBe('abs.example.com.');
  });
});

describe('ZoneFinder with listZones', () => {
  it('picks the longest matching zone and lists zones once', async () => {
    const provider = new FakeProvider({ zones: ['com.', 'example.com', 'www.example.com.'] });
    const finder = new ZoneFinder({ provider, resolver: new FakeResolver() });
    expect(await finder.find('_acme-challenge.www.example.com.', opts)).toBe('www.example.com.');
    expect(await finder.find('_acme-challenge.api.example.com.', opts)).toBe('example.com.');
    expect(provider.calls.filter((c) => c.op === 'list')).toHaveLength(1);
  });

  it('lists again once before failing, then names the domain and the fix', async () => {
    const provider = new FakeProvider({ zones: ['example.org.'] });
    const finder = new ZoneFinder({ provider, resolver: new FakeResolver() });
    await finder.find('_acme-challenge.example.org.', opts);
    const error = await finder.find('_acme-challenge.www.example.com.', opts).catch((e) => e);
    expect(provider.calls.filter((c) => c.op === 'list')).toHaveLength(2);
    expect(error.code).toBe('DNS_ZONE_NOT_FOUND');
    expect(error.message).toContain('www.example.com');
    expect(error.message).toContain('example.org.');
    expect(error.message).toMatch(/Add the zone|CNAME/);
  });

  it('wraps listZones failures as provider errors, scrubbed', async () => {
    const provider = new FakeProvider({ zones: [] });
    provider.listZones = async () => { throw Object.assign(new Error('403 Forbidden: token=abcd1234secret'), { status: 403 }); };
    const finder = new ZoneFinder({ provider, resolver: new FakeResolver() });
    const error = await finder.find('_acme-challenge.example.com.', opts).catch((e) => e);
    expect(error.code).toBe('DNS_PROVIDER_ERROR');
    expect(error.message).toMatch(/^fake: could not list zones: /);
    expect(error.message).not.toContain('abcd1234secret');
    expect(error.retryable).toBe(false);
  });
});

describe('ZoneFinder by SOA walk', () => {
  it('walks up over NXDOMAIN and NODATA to the first SOA, with the configured servers', async () => {
    const resolver = new FakeResolver()
      .set('www.example.com', 'A', ['192.0.2.1']) // NODATA for SOA
      .set('example.com', 'SOA', ['ns1.example.com.'])
      .set('com', 'SOA', ['a.gtld-servers.net.']);
    const finder = new ZoneFinder({ provider: new FakeProvider(), resolver, servers: ['127.0.0.1:53'] });
    expect(await finder.find('_acme-challenge.www.example.com.', opts)).toBe('example.com.');
    expect(resolver.calls.map((c) => c.name)).toEqual(['_acme-challenge.www.example.com.', 'www.example.com.', 'example.com.']);
    expect(resolver.calls.every((c) => c.type === 'SOA' && c.servers?.[0] === '127.0.0.1:53')).toBe(true);
    await finder.find('_acme-challenge.www.example.com.', opts);
    expect(resolver.calls).toHaveLength(3); // cached
  });

  it('finds a zone at the record name itself (a delegated challenge zone)', async () => {
    const resolver = new FakeResolver().set('_acme-challenge.example.com', 'SOA', ['ns.example.net.']);
    const finder = new ZoneFinder({ provider: new FakeProvider(), resolver });
    expect(await finder.find('_acme-challenge.example.com.', opts)).toBe('_acme-challenge.example.com.');
  });

  it('fails with DNS_ZONE_NOT_FOUND when no name up to the TLD has an SOA', async () => {
    const finder = new ZoneFinder({ provider: new FakeProvider(), resolver: new FakeResolver() });
    const error = await finder.find('_acme-challenge.www.example.com.', opts).catch((e) => e);
    expect(error.code).toBe('DNS_ZONE_NOT_FOUND');
    expect(error.message).toContain('www.example.com');
    expect(error.message).toMatch(/resolvers option/);
  });

  it('explains a server that does not implement SOA (challtestsrv)', async () => {
    const resolver = new FakeResolver().fail('_acme-challenge.example.com', 'SOA', 'ENOTIMP');
    const finder = new ZoneFinder({ provider: new FakeProvider(), resolver });
    const error = await finder.find('_acme-challenge.example.com.', { signal, domain: 'example.com' }).catch((e) => e);
    expect(error.code).toBe('DNS_LOOKUP_FAILED');
    expect(error.message).toMatch(/zone list/);
    expect(error.retryable).toBe(false);
  });

  it('keeps other lookup failures retryable', async () => {
    const resolver = new FakeResolver().fail('example.com', 'SOA', 'ETIMEOUT');
    const finder = new ZoneFinder({ provider: new FakeProvider(), resolver });
    await expect(finder.find('example.com.', opts)).rejects.toMatchObject({ code: 'DNS_LOOKUP_FAILED', retryable: true });
  });
});
