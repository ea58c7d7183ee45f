import { describe, expect, it } from 'vitest';
import { AcmeError, CertpilotError, ConfigError, isCertpilotError, scrub } from '../../../src/errors.js';
import { problemToError, parseRetryAfter } from '../../../src/acme/problems.js';

describe('errors', () => {
  it('scrub removes bearer tokens, key=value secrets, PEM blocks and long base64 runs', () => {
    const text = [
      'Authorization: Bearer sk_live_x',
      'token=abc123',
      'api_key: "k-42"',
      '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n-----END PRIVATE KEY-----',
      'sig ' + 'A'.repeat(50),
    ].join(' | ');
    const out = scrub(text);
    for (const secret of ['sk_live_x', 'abc123', 'k-42', 'MIIEvQIBADAN', 'A'.repeat(50)]) expect(out).not.toContain(secret);
    expect(out).toContain('Authorization');
    expect(scrub('apiToken is required; the request signature we calculated does not match')).toBe('apiToken is required; the request signature we calculated does not match');
    expect(scrub('{"secret": "hunter2"}')).not.toContain('hunter2');
  });

  it('the guard survives duplicate installs (brand, not instanceof) and JSON omits causes', () => {
    const e = new ConfigError('INVALID_OPTIONS', 'bad', { cause: new Error('secret inner') });
    expect(isCertpilotError(e)).toBe(true);
    expect(isCertpilotError({ code: 'INVALID_OPTIONS' })).toBe(false);
    expect(isCertpilotError(Object.assign(Object.create(null), { [Symbol.for('certpilot.error')]: true }))).toBe(true);
    expect(JSON.stringify(e)).not.toContain('secret inner');
    expect(e).toBeInstanceOf(CertpilotError);
    expect(e.name).toBe('ConfigError');
  });

  it.each([
    ['rateLimited', 'ACME_RATE_LIMITED', true],
    ['badNonce', 'ACME_BAD_NONCE', true],
    ['unauthorized', 'ACME_UNAUTHORIZED', false],
    ['rejectedIdentifier', 'ACME_REJECTED_IDENTIFIER', false],
    ['caa', 'ACME_CAA', false],
    ['dns', 'ACME_DNS', true],
    ['accountDoesNotExist', 'ACME_ACCOUNT_DOES_NOT_EXIST', true],
    ['externalAccountRequired', 'ACME_EXTERNAL_ACCOUNT_REQUIRED', false],
    ['alreadyReplaced', 'ACME_ALREADY_REPLACED', true],
    ['serverInternal', 'ACME_SERVER_INTERNAL', true],
  ])('maps problem %s to %s', (type, code, retryable) => {
    const e = problemToError('create the order', { type: `urn:ietf:params:acme:error:${type}`, detail: 'the detail' }, 400);
    expect(e).toBeInstanceOf(AcmeError);
    expect(e).toMatchObject({ code, retryable, problemType: `urn:ietf:params:acme:error:${type}`, status: 400 });
    expect(e.message).toContain('create the order');
    expect(e.message).toContain('the detail');
  });

  it('unknown problems stay typed, with retryability from the status, and carry Retry-After', () => {
    expect(problemToError('x', { type: 'urn:example:weird' }, 503)).toMatchObject({ code: 'ACME_ERROR', retryable: true });
    expect(problemToError('x', undefined, 404)).toMatchObject({ code: 'ACME_ERROR', retryable: false });
    const limited = problemToError('x', { type: 'urn:ietf:params:acme:error:rateLimited' }, 429, '120');
    expect(limited.retryAfter!.getTime()).toBeGreaterThan(Date.now() + 100_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT')?.toISOString()).toBe('2015-10-21T07:28:00.000Z');
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('subproblems name their identifiers', () => {
    const e = problemToError('create the order', {
      type: 'urn:ietf:params:acme:error:rejectedIdentifier',
      detail: 'some names were rejected',
      subproblems: [{ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'forbidden', identifier: { type: 'dns', value: 'bad.example' } }],
    }, 400);
    expect(e.message).toContain('bad.example: forbidden');
  });
});
