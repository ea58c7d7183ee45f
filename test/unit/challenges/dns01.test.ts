import { afterEach, describe, expect, it, vi } from 'vitest';
import { challengeName, Dns01Solver, type Dns01SolverOptions } from '../../../src/challenges/dns01.js';
import { FakeProvider, FakeResolver } from './fakes.js';

const NS = ['127.0.0.1:8053'];
const live = () => new AbortController().signal;

function setup(options: Partial<Dns01SolverOptions> = {}, zones = ['example.com.', 'example.org.']) {
  const resolver = new FakeResolver();
  const provider = new FakeProvider({ zones, resolver });
  const events: [string, Record<string, unknown>][] = [];
  const solver = new Dns01Solver({
    provider, resolver,
    propagation: { nameservers: NS, intervalMs: 100, timeoutMs: 1000 },
    onEvent: (type, event) => events.push([type, event as unknown as Record<string, unknown>]),
    ...options,
  });
  return { resolver, provider, solver, events };
}

afterEach(() => { vi.useRealTimers(); });

describe('Dns01Solver.present', () => {
  it('puts apex and wildcard values at one name in one call, and checks both', async () => {
    const { provider, solver, resolver, events } = setup();
    const presented = await solver.present(
      [{ domain: 'example.com', keyAuthorizationDigest: 'apex' }, { domain: '*.example.com', keyAuthorizationDigest: 'wild' }],
      live(),
    );
    expect(provider.appends()).toHaveLength(1);
    expect(provider.appends()[0]).toMatchObject({
      zone: 'example.com.',
      records: [
        { type: 'TXT', name: '_acme-challenge', value: 'apex', ttl: 60 },
        { type: 'TXT', name: '_acme-challenge', value: 'wild', ttl: 60 },
      ],
    });
    expect(resolver.calls.filter((c) => c.type === 'TXT')).toEqual([{ name: '_acme-challenge.example.com.', type: 'TXT', servers: NS }]);
    expect(presented.challenges.map((c) => [c.domain, c.recordName, c.zone])).toEqual([
      ['example.com', '_acme-challenge.example.com.', 'example.com.'],
      ['*.example.com', '_acme-challenge.example.com.', 'example.com.'],
    ]);
    expect(events.map(([type, e]) => `${type} ${e.domain}`)).toEqual([
      'presented example.com', 'presented *.example.com', 'propagated example.com', 'propagated *.example.com',
    ]);
    expect(events[0]![1]).toEqual({ domain: 'example.com', recordName: '_acme-challenge.example.com.', zone: 'example.com.', provider: 'fake' });
  });

  it('groups records per zone, one appendRecords call each, with the given TTL', async () => {
    const { provider, solver } = setup({ ttl: 120 });
    await solver.present(
      [
        { domain: 'a.example.com', keyAuthorizationDigest: '1' },
        { domain: 'b.example.org', keyAuthorizationDigest: '2' },
        { domain: 'c.example.com', keyAuthorizationDigest: '3' },
      ],
      live(),
    );
    const calls = provider.appends().map((c) => [c.zone, c.records!.map((r) => `${r.name}=${r.value}/${r.ttl}`)]);
    expect(calls).toHaveLength(2);
    expect(calls).toContainEqual(['example.com.', ['_acme-challenge.a=1/120', '_acme-challenge.c=3/120']]);
    expect(calls).toContainEqual(['example.org.', ['_acme-challenge.b=2/120']]);
  });

  it('follows a CNAME and creates the record at its target, in the target zone', async () => {
    const { provider, solver, resolver, events } = setup({}, ['example.com.', 'acme.example.org.']);
    resolver.set('_acme-challenge.www.example.com', 'CNAME', ['www.acme.example.org.']);
    resolver.set('_acme-challenge.example.com', 'CNAME', ['acme.example.org.']);
    const presented = await solver.present(
      [{ domain: 'www.example.com', keyAuthorizationDigest: 'w' }, { domain: 'example.com', keyAuthorizationDigest: 'x' }],
      live(),
    );
    expect(provider.appends()).toHaveLength(1);
    expect(provider.appends()[0]).toMatchObject({ zone: 'acme.example.org.', records: [{ name: 'www', value: 'w' }, { name: '@', value: 'x' }] });
    expect(resolver.calls.find((c) => c.type === 'CNAME')?.servers).toEqual(NS); // resolvers default to the nameservers
    expect(events[0]![1].recordName).toBe('www.acme.example.org.');
    await solver.cleanup(presented);
    expect(provider.store.size).toBe(0);
  });

  it('uses the SOA walk and the authoritative servers without listZones or nameservers', async () => {
    const resolver = new FakeResolver()
      .set('example.com', 'SOA', ['ns1.example.com.'])
      .set('example.com', 'NS', ['ns1.example.com.'])
      .set('ns1.example.com', 'A', ['192.0.2.53']);
    const provider = new FakeProvider({ resolver });
    const solver = new Dns01Solver({ provider, resolver, resolvers: ['127.0.0.1:5353'] });
    await solver.present([{ domain: 'www.example.com', keyAuthorizationDigest: 'v' }], live());
    expect(provider.appends()[0]).toMatchObject({ zone: 'example.com.', records: [{ name: '_acme-challenge.www' }] });
    expect(resolver.calls.filter((c) => c.type === 'TXT').map((c) => c.servers)).toEqual([['192.0.2.53:53']]);
    expect(resolver.calls.filter((c) => c.type !== 'TXT').every((c) => c.servers?.[0] === '127.0.0.1:5353')).toBe(true);
  });

  it('fails with DNS_ZONE_NOT_FOUND before touching the provider', async () => {
    const { provider, solver, events } = setup({}, ['example.org.']);
    const error = await solver.present([{ domain: '*.example.com', keyAuthorizationDigest: 'v' }], live()).catch((e) => e);
    expect(error.code).toBe('DNS_ZONE_NOT_FOUND');
    expect(error.message).toContain('*.example.com');
    expect(provider.appends()).toHaveLength(0);
    expect(events).toEqual([['failed', expect.objectContaining({ domain: '*.example.com', recordName: '_acme-challenge.example.com.', error })]]);
  });

  it('wraps a provider failure, and removes what other zones (and the failed call) created', async () => {
    const { provider, solver, events } = setup();
    provider.appendError = (zone) => (zone === 'example.org.' ? Object.assign(new Error('HTTP 503 (sent Bearer sk_live_abcdef)'), { status: 503 }) : undefined);
    provider.failAfterCreate = true;
    const error = await solver.present(
      [{ domain: 'example.com', keyAuthorizationDigest: '1' }, { domain: 'example.org', keyAuthorizationDigest: '2' }],
      live(),
    ).catch((e) => e);
    expect(error.code).toBe('DNS_PROVIDER_ERROR');
    expect(error.message).toMatch(/^fake: could not create TXT records in zone example.org.: HTTP 503/);
    expect(error.message).not.toContain('sk_live_abcdef');
    expect(error.retryable).toBe(true);
    expect(provider.store.size).toBe(0);
    expect(provider.deletes().map((c) => c.zone).sort()).toEqual(['example.com.', 'example.org.']);
    expect(events.filter(([t]) => t === 'failed')).toHaveLength(2);
  });

  it('marks a 403 from the provider as not retryable', async () => {
    const { provider, solver } = setup();
    provider.appendError = () => Object.assign(new Error('forbidden'), { status: 403 });
    await expect(solver.present([{ domain: 'example.com', keyAuthorizationDigest: '1' }], live())).rejects.toMatchObject({ retryable: false });
  });

  it('cleans up after a propagation timeout', async () => {
    vi.useFakeTimers();
    const resolver = new FakeResolver();
    const provider = new FakeProvider({ zones: ['example.com.'] }); // never publishes to the resolver
    const solver = new Dns01Solver({ provider, resolver, propagation: { nameservers: NS, timeoutMs: 3000, intervalMs: 1000 } });
    const caught = solver.present([{ domain: 'example.com', keyAuthorizationDigest: 'v' }], live()).catch((e) => e);
    await vi.advanceTimersByTimeAsync(3000);
    const error = await caught;
    expect(error.code).toBe('DNS_PROPAGATION_TIMEOUT');
    expect(error.message).toContain('_acme-challenge.example.com. at 127.0.0.1:8053');
    expect(provider.deletes()).toHaveLength(1);
    expect(provider.store.size).toBe(0);
  });

  it('cleans up and rejects with AbortError when aborted while waiting', async () => {
    vi.useFakeTimers();
    const resolver = new FakeResolver();
    const provider = new FakeProvider({ zones: ['example.com.'] });
    const solver = new Dns01Solver({ provider, resolver, propagation: { nameservers: NS } });
    const controller = new AbortController();
    const caught = solver.present([{ domain: 'example.com', keyAuthorizationDigest: 'v' }], controller.signal).catch((e) => e);
    await vi.advanceTimersByTimeAsync(2500);
    controller.abort();
    const error = await caught;
    expect(error.code).toBe('ABORTED');
    expect(provider.deletes()).toHaveLength(1);
    expect(provider.store.size).toBe(0);
  });

  it('does nothing when the signal is already aborted', async () => {
    const { provider, solver } = setup();
    const controller = new AbortController();
    controller.abort();
    await expect(solver.present([{ domain: 'example.com', keyAuthorizationDigest: 'v' }], controller.signal)).rejects.toMatchObject({ code: 'ABORTED' });
    expect(provider.calls).toHaveLength(0);
  });

  it('ignores a listener that throws', async () => {
    const { solver } = setup({ onEvent: () => { throw new Error('listener bug'); } });
    await expect(solver.present([{ domain: 'example.com', keyAuthorizationDigest: 'v' }], live())).resolves.toBeDefined();
  });

  it('refuses nameservers that are not IP addresses', () => {
    expect(() => new Dns01Solver({ provider: new FakeProvider(), propagation: { nameservers: ['ns1.example.com:53'] } })).toThrow(/IP addresses/);
    expect(() => new Dns01Solver({ provider: new FakeProvider(), resolvers: [] })).toThrow(/non-empty/);
  });
});

describe('Dns01Solver.cleanup', () => {
  it('deletes exactly what was created, with the provider data, once', async () => {
    const { provider, solver, events } = setup();
    const presented = await solver.present([{ domain: 'example.com', keyAuthorizationDigest: 'v' }], live());
    provider.store.set('_acme-challenge.example.com.', [...provider.store.get('_acme-challenge.example.com.')!, 'someone-else']);
    await solver.cleanup(presented);
    await solver.cleanup(presented);
    expect(provider.deletes()).toHaveLength(1);
    expect(provider.deletes()[0]!.records).toEqual([{ type: 'TXT', name: '_acme-challenge', value: 'v', ttl: 60, providerData: { id: 'example.com./_acme-challenge/v' } }]);
    expect(provider.store.get('_acme-challenge.example.com.')).toEqual(['someone-else']);
    expect(events.at(-1)).toEqual(['cleaned', expect.objectContaining({ domain: 'example.com' })]);
  });

  it('reports a failed delete through onEvent and resolves; a later call retries', async () => {
    const { provider, solver, events } = setup();
    const presented = await solver.present([{ domain: 'example.com', keyAuthorizationDigest: 'v' }], live());
    provider.deleteError = new Error('boom');
    await expect(solver.cleanup(presented)).resolves.toBeUndefined();
    const failed = events.find(([t]) => t === 'failed')![1];
    expect((failed.error as Error).message).toBe('fake: could not delete TXT records in zone example.com.: boom');
    provider.deleteError = undefined;
    await solver.cleanup(presented);
    expect(provider.store.size).toBe(0);
  });

  it('runs after the present signal was aborted', async () => {
    const { provider, solver } = setup();
    const controller = new AbortController();
    const presented = await solver.present([{ domain: 'example.com', keyAuthorizationDigest: 'v' }], controller.signal);
    controller.abort();
    await solver.cleanup(presented);
    expect(provider.store.size).toBe(0);
  });
});

describe('challengeName', () => {
  it('drops the wildcard label and adds the trailing dot', () => {
    expect(challengeName('*.Example.com')).toBe('_acme-challenge.example.com.');
    expect(challengeName('example.com.')).toBe('_acme-challenge.example.com.');
  });
});
