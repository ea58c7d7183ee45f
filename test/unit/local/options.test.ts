/** LocalIssuer options: defaults, and a typed error for every unusable value. */
import { describe, expect, it } from 'vitest';
import { isCertpilotError } from '../../../src/errors.js';
import { LocalIssuer } from '../../../src/local/issuer.js';
import { resolveOptions, slugOf, type LocalIssuerOptions } from '../../../src/local/options.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isCertpilotError(error) ? error.code : `untyped: ${String(error)}`;
  }
  return undefined;
}

describe('LocalIssuer options', () => {
  it('has documented defaults', () => {
    const resolved = resolveOptions(undefined);
    expect(resolved).toEqual({
      name: 'certpilot local CA',
      slug: 'certpilot-local-ca',
      keyType: 'ecdsa-p256',
      leafLifetimeMs: 24 * 3600_000,
      rootLifetimeMs: 10 * 365 * 24 * 3600_000,
      intermediateLifetimeMs: 365 * 24 * 3600_000,
      crlLifetimeMs: 3600_000,
      crlUrl: undefined,
    });
    const issuer = new LocalIssuer();
    expect(issuer.id).toBe('local:certpilot-local-ca');
    expect(issuer.keyType).toBe('ecdsa-p256');
    expect(issuer.name).toBe('certpilot local CA');
  });

  it('derives a store-safe slug from the name', () => {
    expect(slugOf('Acme Dev CA (staging)')).toBe('acme-dev-ca-staging');
    expect(new LocalIssuer({ name: '  Ops / Lab  ', keyType: 'rsa-2048' }).id).toBe('local:ops-lab');
  });

  it.each<[string, unknown, string]>([
    ['a non-object', 'ca', 'INVALID_OPTIONS'],
    ['an empty name', { name: '  ' }, 'INVALID_OPTIONS'],
    ['a name without letters or digits', { name: '***' }, 'INVALID_OPTIONS'],
    ['a name longer than 50 characters', { name: 'x'.repeat(51) }, 'INVALID_OPTIONS'],
    ['an unknown key type', { keyType: 'ed25519' }, 'INVALID_KEY_TYPE'],
    ['a lifetime under a second', { leafLifetimeMs: 500 }, 'INVALID_OPTIONS'],
    ['a non-numeric lifetime', { rootLifetimeMs: '10y' }, 'INVALID_OPTIONS'],
    ['an infinite lifetime', { crlLifetimeMs: Number.POSITIVE_INFINITY }, 'INVALID_OPTIONS'],
    ['leaves longer than half the intermediate', { leafLifetimeMs: 200 * 86_400_000 }, 'INVALID_OPTIONS'],
    ['an intermediate longer than the root', { intermediateLifetimeMs: 20 * 365 * 86_400_000 }, 'INVALID_OPTIONS'],
    ['a crlUrl that is not a URL', { crlUrl: 'crl.example.test' }, 'INVALID_OPTIONS'],
    ['a crlUrl that is not http(s)', { crlUrl: 'ldap://crl.example.test/ca' }, 'INVALID_OPTIONS'],
  ])('rejects %s', (_what, options, code) => {
    expect(codeOf(() => new LocalIssuer(options as LocalIssuerOptions))).toBe(code);
  });

  it('accepts short lifetimes for tests and an http CRL URL', () => {
    const resolved = resolveOptions({ leafLifetimeMs: 2000, intermediateLifetimeMs: 10_000, rootLifetimeMs: 20_000, crlUrl: 'http://127.0.0.1:8080/ca.crl' });
    expect(resolved.leafLifetimeMs).toBe(2000);
    expect(resolved.crlUrl).toBe('http://127.0.0.1:8080/ca.crl');
  });
});
