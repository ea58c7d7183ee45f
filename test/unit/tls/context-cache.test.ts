import { beforeAll, describe, expect, it } from 'vitest';
import type { ManagedCertificate } from '../../../src/certificate.js';
import { isCertpilotError } from '../../../src/errors.js';
import { ContextCache } from '../../../src/tls/context-cache.js';
import { secureContext } from '../../../src/tls/tls-options.js';
import { FakeSource } from '../../helpers/fake-source.js';
import { createCa, issueCertificate, type TestCa } from '../../helpers/selfsigned.js';

let ca: TestCa;
let a: ManagedCertificate;
let b: ManagedCertificate;
let c: ManagedCertificate;

beforeAll(async () => {
  ca = await createCa();
  const issue = (name: string) => issueCertificate(ca, { name, domains: [`${name}.test`] });
  [a, b, c] = await Promise.all([issue('a'), issue('b'), issue('c')]);
});

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isCertpilotError(error) ? error.code : `not a certpilot error: ${String(error)}`;
  }
  return undefined;
}

describe('ContextCache', () => {
  it('returns the same context for the same certificate version', () => {
    const cache = new ContextCache();
    const first = cache.get(a);
    expect(cache.get({ ...a })).toBe(first); // a fresh object, same fingerprint
    expect(cache.get(b)).not.toBe(first);
    expect(cache.size).toBe(2);
    expect(cache.max).toBe(256);
  });

  it('evicts the least recently used context beyond max', () => {
    const cache = new ContextCache({ max: 2 });
    const ctxA = cache.get(a);
    const ctxB = cache.get(b);
    expect(cache.get(a)).toBe(ctxA); // a is now the most recently used
    cache.get(c); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.has(a.fingerprint256)).toBe(true);
    expect(cache.has(b.fingerprint256)).toBe(false);
    expect(cache.get(b)).not.toBe(ctxB); // rebuilt
    expect(cache.has(a.fingerprint256)).toBe(false); // and that evicted a
  });

  it('rebuilds when the same leaf comes with another chain', () => {
    const cache = new ContextCache();
    const first = cache.get(a);
    const other = { ...a, chain: '', fullchain: a.cert };
    expect(cache.get(other)).not.toBe(first);
    expect(cache.size).toBe(1);
  });

  it('refuses a non-positive or fractional max', () => {
    expect(code(() => new ContextCache({ max: 0 }))).toBe('INVALID_OPTIONS');
    expect(code(() => new ContextCache({ max: 1.5 }))).toBe('INVALID_OPTIONS');
  });

  it('reports a key that does not match the leaf without echoing the key', () => {
    const cache = new ContextCache();
    const broken = { ...a, key: b.key };
    let error: unknown;
    try {
      cache.get(broken);
    } catch (e) {
      error = e;
    }
    expect(isCertpilotError(error) && error.code).toBe('CERTIFICATE_CHECK_FAILED');
    expect((error as Error).message).toContain('"a"');
    expect((error as Error).message).not.toContain('PRIVATE KEY');
    expect(cache.size).toBe(0);
  });

  it('clear forgets every context', () => {
    const cache = new ContextCache();
    const first = cache.get(a);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get(a)).not.toBe(first);
  });
});

describe('secureContext', () => {
  it('serves the active certificate through the cache', () => {
    const cache = new ContextCache();
    const source = new FakeSource([a, b]);
    expect(secureContext(source, cache, 'a')).toBe(cache.get(a));
    expect(secureContext(source, cache, 'a')).toBe(secureContext(source, cache, 'a'));
  });

  it('follows a rotation to a new context', () => {
    const cache = new ContextCache();
    const source = new FakeSource([a]);
    const before = secureContext(source, cache, 'a');
    source.rotate({ ...b, name: 'a' });
    expect(secureContext(source, cache, 'a')).not.toBe(before);
  });

  it('throws NOT_FOUND naming the missing certificate', () => {
    const source = new FakeSource([a]);
    let error: unknown;
    try {
      secureContext(source, new ContextCache(), 'missing');
    } catch (e) {
      error = e;
    }
    expect(isCertpilotError(error) && error.code).toBe('NOT_FOUND');
    expect((error as Error).message).toContain('"missing"');
    expect(isCertpilotError(error) && error.details).toEqual({ name: 'missing' });
  });
});
