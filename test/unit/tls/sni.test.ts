import { describe, expect, it } from 'vitest';
import type { KeyType, ManagedCertificate } from '../../../src/certificate.js';
import { keyAlgorithm, keyTypeMismatch, normalizeHostname, SniIndex } from '../../../src/tls/sni.js';

/** Only the fields the index reads matter here; real certificates are covered by the TLS tests. */
function cert(name: string, domains: string[], keyType: KeyType = 'ecdsa-p256'): ManagedCertificate {
  return { name, domains, keyType } as ManagedCertificate;
}

describe('normalizeHostname', () => {
  it('lower-cases and drops one trailing dot', () => {
    expect(normalizeHostname('API.Example.COM.')).toBe('api.example.com');
    expect(normalizeHostname('api.example.com')).toBe('api.example.com');
  });
});

describe('SniIndex', () => {
  const wild = cert('wild', ['example.com', '*.example.com']);
  const exact = cert('exact', ['a.example.com']);
  const index = new SniIndex([wild, exact]);

  it('prefers an exact name over a wildcard', () => {
    expect(index.lookup('a.example.com')?.name).toBe('exact');
    expect(index.lookup('b.example.com')?.name).toBe('wild');
    expect(index.lookup('example.com')?.name).toBe('wild'); // listed explicitly
  });

  it('matches one label only', () => {
    expect(index.lookup('x.b.example.com')).toBeUndefined();
    expect(new SniIndex([cert('w', ['*.example.com'])]).lookup('example.com')).toBeUndefined();
    expect(index.lookup('com')).toBeUndefined();
    expect(index.lookup('localhost')).toBeUndefined();
  });

  it('ignores case and a trailing dot on both sides', () => {
    expect(index.lookup('B.EXAMPLE.COM.')?.name).toBe('wild');
    expect(new SniIndex([cert('x', ['API.Test.'])]).lookup('api.test')?.name).toBe('x');
  });

  it('lets the first listed certificate win a contested name', () => {
    const first = cert('first', ['same.test']);
    const second = cert('second', ['same.test']);
    expect(new SniIndex([first, second]).lookup('same.test')?.name).toBe('first');
    expect(new SniIndex([second, first]).lookup('same.test')?.name).toBe('second');
  });

  it('knows which names it serves', () => {
    expect(index.serves('wild')).toBe(true);
    expect(index.serves('other')).toBe(false);
    expect(index.certificates.map((c) => c.name)).toEqual(['wild', 'exact']);
  });
});

describe('keyTypeMismatch', () => {
  it('compares key algorithms, not sizes or curves', () => {
    expect(keyAlgorithm('ecdsa-p384')).toBe('ecdsa');
    expect(keyAlgorithm('rsa-4096')).toBe('rsa');
    expect(keyTypeMismatch([cert('a', [], 'ecdsa-p256'), cert('b', [], 'ecdsa-p384')])).toBeUndefined();
    expect(keyTypeMismatch([cert('a', [], 'rsa-2048'), cert('b', [], 'rsa-4096')])).toBeUndefined();
    expect(keyTypeMismatch([])).toBeUndefined();
  });

  it('names both certificates and the way out', () => {
    const error = keyTypeMismatch([cert('api', [], 'ecdsa-p256'), cert('ok', []), cert('legacy', [], 'rsa-2048')]);
    expect(error?.code).toBe('KEY_TYPE_MISMATCH');
    expect(error?.name).toBe('ConfigError');
    expect(error?.message).toMatch(/"api" is ecdsa-p256 but "legacy" is rsa-2048/);
    expect(error?.message).toContain('allowMixedKeyTypes');
    expect(error?.details).toEqual({ names: ['api', 'legacy'], keyTypes: ['ecdsa-p256', 'rsa-2048'] });
  });
});
