/** Bad input gets a typed error that names the problem and says what to fix. */
import { describe, expect, it } from 'vitest';
import { AcmeIssuer } from '../../../src/acme/issuer.js';
import { normalizeDomain, normalizeDomains, assertName, domainMatches } from '../../../src/domains.js';
import { CertificateManager } from '../../../src/manager.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { FileStore } from '../../../src/storage/file.js';
import type { DnsProvider } from '../../../src/challenges/provider.js';
import { isCertpilotError } from '../../../src/errors.js';

const dns: DnsProvider = { name: 'none', appendRecords: async (_z, r) => r, deleteRecords: async (_z, r) => r };
const issuerOptions = { directoryUrl: 'https://127.0.0.1:1/dir', termsOfServiceAgreed: true, dns };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isCertpilotError(error) ? error.code : `untyped: ${String(error)}`;
  }
  return undefined;
}

describe('domain names', () => {
  it('normalises case, trailing dots and IDNs', () => {
    expect(normalizeDomain('API.Example.COM.')).toBe('api.example.com');
    expect(normalizeDomain('bücher.example')).toBe('xn--bcher-kva.example');
    expect(normalizeDomain('*.Example.com')).toBe('*.example.com');
    expect(normalizeDomains(['a.example.com', 'A.example.com.', '*.example.com'])).toEqual(['a.example.com', '*.example.com']);
  });

  it.each([
    ['', 'non-empty'],
    ['   ', 'non-empty'],
    ['localhost', 'single label'],
    ['a..example.com', 'invalid'],
    ['-bad.example.com', 'invalid label'],
    ['bad-.example.com', 'invalid label'],
    ['under_score.example.com', 'invalid'],
    [`${'a'.repeat(64)}.example.com`, 'invalid label'],
    ['a.*.example.com', 'wildcard in the wrong place'],
    ['*example.com', 'wildcard in the wrong place'],
    ['**.example.com', 'wildcard in the wrong place'],
    ['*.com', 'single label'],
    ['192.0.2.1', 'IP address'],
    ['::1', 'IP address'],
  ])('refuses %j (%s)', (input, words) => {
    let error: unknown;
    try { normalizeDomain(input); } catch (e) { error = e; }
    expect(error).toMatchObject({ code: 'INVALID_DOMAIN' });
    expect((error as Error).message.toLowerCase()).toContain(words.toLowerCase());
  });

  it('refuses non-arrays, empty lists and non-strings', () => {
    expect(codeOf(() => normalizeDomains([]))).toBe('INVALID_DOMAIN');
    expect(codeOf(() => normalizeDomains('example.com'))).toBe('INVALID_DOMAIN');
    expect(codeOf(() => normalizeDomains([42]))).toBe('INVALID_DOMAIN');
    expect(codeOf(() => normalizeDomains(Array.from({ length: 101 }, (_, i) => `n${i}.example.com`)))).toBe('INVALID_DOMAIN');
  });

  it('checks certificate names so they cannot escape a directory', () => {
    for (const bad of ['', '..', '../etc', 'a/b', 'a\\b', '.hidden', 'x'.repeat(65), 'a b', 'a..b']) {
      expect(codeOf(() => assertName(bad))).toBe('INVALID_NAME');
    }
    expect(codeOf(() => assertName('api-v2.prod_1'))).toBeUndefined();
  });

  it('matches wildcards one label deep only', () => {
    expect(domainMatches('*.example.com', 'a.example.com')).toBe(true);
    expect(domainMatches('*.example.com', 'a.b.example.com')).toBe(false);
    expect(domainMatches('*.example.com', 'example.com')).toBe(false);
    expect(domainMatches('Example.com', 'example.COM.')).toBe(true);
  });
});

describe('manager and issuer options', () => {
  it('needs a store', () => {
    expect(codeOf(() => new CertificateManager({} as never))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => new CertificateManager(undefined as never))).toBe('INVALID_OPTIONS');
  });

  it('refuses nonsense numbers', () => {
    expect(codeOf(() => new CertificateManager({ store: new MemoryStore(), lockTtlMs: -1 }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => new CertificateManager({ store: new MemoryStore(), renewal: { renewBefore: 0 } }))).toBe('INVALID_OPTIONS');
  });

  it('a manager without an issuer refuses to order with NO_ISSUER', async () => {
    const manager = new CertificateManager({ store: new MemoryStore() });
    await expect(manager.provision({ name: 'api', domains: ['api.example.com'] })).rejects.toMatchObject({ code: 'NO_ISSUER' });
    await manager.close();
  });

  it('provision validates before doing anything', async () => {
    const manager = new CertificateManager({ store: new MemoryStore(), issuer: new AcmeIssuer(issuerOptions) });
    expect(codeOf(() => manager.provision({ name: 'api', domains: ['*.*.example.com'] }))).toBe('INVALID_DOMAIN');
    expect(codeOf(() => manager.provision({ name: '../api', domains: ['example.com'] }))).toBe('INVALID_NAME');
    expect(codeOf(() => manager.provision({ name: 'api', domains: ['example.com'], keyType: 'dsa-1024' as never }))).toBe('INVALID_KEY_TYPE');
    expect(codeOf(() => manager.provision(null as never))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => manager.rotate('nope'))).toBeUndefined(); // returns a rejected promise instead
    await expect(manager.rotate('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await manager.close();
    expect(codeOf(() => manager.provision({ name: 'api', domains: ['example.com'] }))).toBe('CLOSED');
  });

  it('AcmeIssuer checks its options', () => {
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, directoryUrl: 'not a url' }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, directoryUrl: 'http://127.0.0.1/dir' }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, dns: undefined as never }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, keyType: 'ed25519' as never }))).toBe('INVALID_KEY_TYPE');
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, email: 'nope' }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, externalAccountBinding: { kid: '', hmacKey: 'x' } }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, caCertificates: 'not pem' }))).toBe('INVALID_PEM');
    expect(codeOf(() => new AcmeIssuer({ ...issuerOptions, lifetimeMs: 5 }))).toBe('INVALID_OPTIONS');
  });

  it('an unreachable CA is a retryable ACME_UNREACHABLE error', async () => {
    const manager = new CertificateManager({ store: new MemoryStore(), issuer: new AcmeIssuer({ ...issuerOptions, requestTimeoutMs: 2000 }) });
    const error = await manager.provision({ name: 'api', domains: ['api.example.com'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ACME_UNREACHABLE', retryable: true });
    expect(manager.status()[0]).toMatchObject({ name: 'api', attempts: 1, lastError: { code: 'ACME_UNREACHABLE' } });
    await manager.close();
  });
});

describe('stores', () => {
  it('a store directory that is not writable is a STORE_NOT_WRITABLE error', async () => {
    // Under a regular file: fails even for root.
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const file = join(mkdtempSync(join((await import('node:os')).tmpdir(), 'cp-')), 'plain-file');
    writeFileSync(file, 'x');
    const store = new FileStore({ directory: `${file}/certpilot` });
    const manager = new CertificateManager({ store, issuer: new AcmeIssuer(issuerOptions) });
    const error = await manager.provision({ name: 'api', domains: ['api.example.com'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_NOT_WRITABLE' });
    expect((error as Error).message).toContain(`${file}/certpilot`);
    await manager.close();
  });
});
