import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { authoritativeServers, sleep, waitForPropagation } from '../../../src/challenges/propagation.js';
import { FakeResolver } from './fakes.js';

const NAME = '_acme-challenge.example.com.';
const A = '10.0.0.1:53';
const B = '10.0.0.2:53';

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

/** Lets pending promise callbacks run without moving the clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe('waitForPropagation', () => {
  it('checks at once and resolves without waiting when the record is there', async () => {
    const resolver = new FakeResolver().set(NAME, 'TXT', ['v1']);
    const done = vi.fn();
    void waitForPropagation([{ name: NAME, values: ['v1'], servers: [A] }], { resolver, signal: new AbortController().signal }).then(done);
    await flush();
    expect(done).toHaveBeenCalled();
    expect(resolver.calls).toEqual([{ name: NAME, type: 'TXT', servers: [A] }]);
  });

  it('checks again every intervalMs until the record appears', async () => {
    const resolver = new FakeResolver();
    const done = vi.fn();
    void waitForPropagation([{ name: NAME, values: ['v1'], servers: [A] }], { resolver, intervalMs: 1000, signal: new AbortController().signal }).then(done);
    await flush();
    expect(resolver.count('TXT')).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(resolver.count('TXT')).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(resolver.count('TXT')).toBe(2);
    resolver.set(NAME, 'TXT', ['v1']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(resolver.count('TXT')).toBe(3);
    expect(done).toHaveBeenCalled();
  });

  it('needs every value at every server, and stops asking a server once it has them', async () => {
    const resolver = new FakeResolver().set(NAME, 'TXT', ['apex', 'wildcard'], A).set(NAME, 'TXT', ['apex'], B);
    const propagated = vi.fn();
    const promise = waitForPropagation([{ name: NAME, values: ['apex', 'wildcard'], servers: [A, B] }], {
      resolver, intervalMs: 500, signal: new AbortController().signal, onPropagated: propagated,
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(propagated).not.toHaveBeenCalled();
    expect(resolver.calls.filter((c) => c.servers?.[0] === A)).toHaveLength(1);
    expect(resolver.calls.filter((c) => c.servers?.[0] === B)).toHaveLength(3);
    resolver.set(NAME, 'TXT', ['wildcard', 'apex', 'other'], B);
    await vi.advanceTimersByTimeAsync(500);
    await expect(promise).resolves.toBeUndefined();
    expect(propagated).toHaveBeenCalledTimes(1);
  });

  it('times out naming the record and the servers that lacked it', async () => {
    const resolver = new FakeResolver().set(NAME, 'TXT', ['v1'], A).fail('_acme-challenge.other.com', 'TXT', 'ETIMEOUT');
    const promise = waitForPropagation(
      [
        { name: NAME, values: ['v1'], servers: [A, B] },
        { name: '_acme-challenge.other.com.', values: ['v2'], servers: [A] },
      ],
      { resolver, timeoutMs: 5000, intervalMs: 2000, signal: new AbortController().signal },
    );
    const caught = promise.catch((e) => e);
    await vi.advanceTimersByTimeAsync(5000);
    const error = await caught;
    expect(error.code).toBe('DNS_PROPAGATION_TIMEOUT');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`${NAME} at ${B} (name does not exist)`);
    expect(error.message).not.toContain(`${NAME} at ${A}`);
    expect(error.message).toContain(`_acme-challenge.other.com. at ${A} (ETIMEOUT)`);
    expect(error.message).toContain('5000 ms');
    // Checks at 0, 2000, 4000 and a last one at the deadline.
    expect(resolver.calls.filter((c) => c.name === '_acme-challenge.other.com.')).toHaveLength(4);
  });

  it('reports missing values as such', async () => {
    const resolver = new FakeResolver().set(NAME, 'TXT', ['one']);
    const caught = waitForPropagation([{ name: NAME, values: ['one', 'two'], servers: [A] }], {
      resolver, timeoutMs: 100, intervalMs: 50, signal: new AbortController().signal,
    }).catch((e) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect((await caught).message).toContain('1 of 2 values missing');
  });

  it('stops at once when aborted while waiting', async () => {
    const resolver = new FakeResolver();
    const controller = new AbortController();
    const caught = waitForPropagation([{ name: NAME, values: ['v'], servers: [A] }], { resolver, signal: controller.signal }).catch((e) => e);
    await flush();
    controller.abort();
    await flush();
    expect((await caught).code).toBe('ABORTED');
    expect(resolver.count('TXT')).toBe(1);
  });

  it('resolves at once for nothing to check', async () => {
    await expect(waitForPropagation([], { resolver: new FakeResolver(), signal: new AbortController().signal })).resolves.toBeUndefined();
  });
});

describe('authoritativeServers', () => {
  const signal = new AbortController().signal;

  it('asks NS and A records through the given servers', async () => {
    const resolver = new FakeResolver()
      .set('example.com', 'NS', ['ns1.example.com.', 'ns2.example.net.'])
      .set('ns1.example.com', 'A', ['192.0.2.1', '192.0.2.2'])
      .set('ns2.example.net', 'AAAA', ['2001:db8::1']);
    const servers = await authoritativeServers('example.com.', { resolver, servers: ['127.0.0.1:53'], signal });
    expect(servers).toEqual(['192.0.2.1:53', '192.0.2.2:53', '[2001:db8::1]:53']);
    expect(resolver.calls.every((c) => c.servers?.[0] === '127.0.0.1:53')).toBe(true);
  });

  it('skips a nameserver without an address', async () => {
    const resolver = new FakeResolver()
      .set('example.com', 'NS', ['ns1.example.com.', 'broken.example.com.'])
      .set('ns1.example.com', 'A', ['192.0.2.1'])
      .fail('broken.example.com', 'A');
    expect(await authoritativeServers('example.com.', { resolver, signal })).toEqual(['192.0.2.1:53']);
  });

  it('fails with a fix when nothing is found', async () => {
    const error = await authoritativeServers('example.com.', { resolver: new FakeResolver(), signal }).catch((e) => e);
    expect(error.code).toBe('DNS_LOOKUP_FAILED');
    expect(error.message).toContain('propagation.nameservers');
  });
});

describe('sleep', () => {
  it('rejects when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(sleep(10, controller.signal)).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
