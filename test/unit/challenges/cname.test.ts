import { describe, expect, it } from 'vitest';
import { followCnames } from '../../../src/challenges/cname.js';
import { FakeResolver } from './fakes.js';

const signal = new AbortController().signal;

describe('followCnames', () => {
  it('returns the name itself when there is no CNAME', async () => {
    const resolver = new FakeResolver();
    const result = await followCnames('_acme-challenge.Example.com', { resolver, signal });
    expect(result).toEqual({ target: '_acme-challenge.example.com.', chain: ['_acme-challenge.example.com.'] });
  });

  it('treats NODATA like the end of the chain', async () => {
    const resolver = new FakeResolver().set('_acme-challenge.example.com', 'A', ['192.0.2.1']);
    const result = await followCnames('_acme-challenge.example.com.', { resolver, signal });
    expect(result.target).toBe('_acme-challenge.example.com.');
  });

  it('follows a chain to its end, asking the configured servers', async () => {
    const resolver = new FakeResolver()
      .set('_acme-challenge.example.com', 'CNAME', ['hop.example.net.'])
      .set('hop.example.net', 'CNAME', ['EXAMPLE.com.acme.delegated.org']);
    const result = await followCnames('_acme-challenge.example.com.', { resolver, servers: ['127.0.0.1:8053'], signal });
    expect(result.target).toBe('example.com.acme.delegated.org.');
    expect(result.chain).toEqual(['_acme-challenge.example.com.', 'hop.example.net.', 'example.com.acme.delegated.org.']);
    expect(resolver.calls.every((c) => c.type === 'CNAME' && c.servers?.[0] === '127.0.0.1:8053')).toBe(true);
  });

  it('detects a loop and names the chain', async () => {
    const resolver = new FakeResolver()
      .set('_acme-challenge.example.com', 'CNAME', ['a.example.net.'])
      .set('a.example.net', 'CNAME', ['_acme-challenge.example.com.']);
    const error = await followCnames('_acme-challenge.example.com.', { resolver, signal }).catch((e) => e);
    expect(error.code).toBe('DNS_CNAME_LOOP');
    expect(error.message).toContain('_acme-challenge.example.com. → a.example.net. → _acme-challenge.example.com.');
    expect(error.retryable).toBe(false);
    expect(error.details.chain).toHaveLength(3);
  });

  it('detects a CNAME to itself', async () => {
    const resolver = new FakeResolver().set('_acme-challenge.example.com', 'CNAME', ['_acme-challenge.example.com.']);
    await expect(followCnames('_acme-challenge.example.com.', { resolver, signal })).rejects.toMatchObject({ code: 'DNS_CNAME_LOOP' });
  });

  it('enforces the hop limit', async () => {
    const resolver = new FakeResolver();
    for (let i = 0; i < 5; i++) resolver.set(`h${i}.example.com`, 'CNAME', [`h${i + 1}.example.com.`]);
    // 5 hops: h0 → … → h5
    await expect(followCnames('h0.example.com.', { resolver, signal, maxHops: 5 })).resolves.toMatchObject({ target: 'h5.example.com.' });
    const error = await followCnames('h0.example.com.', { resolver, signal, maxHops: 4 }).catch((e) => e);
    expect(error.code).toBe('DNS_CNAME_LOOP');
    expect(error.message).toContain('longer than 4 hops');
    expect(error.message).toContain('h0.example.com. → h1.example.com.');
    expect(error.message).toContain('maxCnameHops');
  });

  it('defaults to 8 hops', async () => {
    const resolver = new FakeResolver();
    for (let i = 0; i < 9; i++) resolver.set(`h${i}.example.com`, 'CNAME', [`h${i + 1}.example.com.`]);
    await expect(followCnames('h1.example.com.', { resolver, signal })).resolves.toMatchObject({ target: 'h9.example.com.' });
    await expect(followCnames('h0.example.com.', { resolver, signal })).rejects.toMatchObject({ code: 'DNS_CNAME_LOOP' });
  });

  it('lets lookup failures through instead of guessing', async () => {
    const resolver = new FakeResolver().fail('_acme-challenge.example.com', 'CNAME', 'ESERVFAIL');
    await expect(followCnames('_acme-challenge.example.com.', { resolver, signal })).rejects.toMatchObject({ code: 'DNS_LOOKUP_FAILED' });
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(followCnames('x.example.com.', { resolver: new FakeResolver(), signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
