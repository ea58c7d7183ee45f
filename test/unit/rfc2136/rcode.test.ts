/** Every answer an UPDATE can get, mapped to an error an operator can act on. */
import { describe, expect, it } from 'vitest';
import { DnsError, scrub } from '../../../src/errors.js';
import { answerError, rcodeName, type AnswerContext } from '../../../providers/rfc2136/rcode.js';
import { TsigError, type TsigVerdict } from '../../../providers/rfc2136/tsig.js';

const ctx: AnswerContext = {
  server: '192.0.2.53:53',
  zone: 'example.com.',
  keyName: 'certpilot.',
  algorithm: 'hmac-sha256',
  changes: ['TXT records at _acme-challenge.example.com.'],
  now: 1_800_000_000,
  fudge: 300,
};
const ok: TsigVerdict = { status: 'verified', error: 0, timeSigned: ctx.now };

function mapped(verdict: TsigVerdict, rcode: number): DnsError {
  const error = answerError(verdict, rcode, ctx);
  expect(error).toBeInstanceOf(DnsError);
  expect(error!.code).toBe('DNS_PROVIDER_ERROR');
  expect(error!.message.startsWith('rfc2136: ')).toBe(true);
  // The core scrubs provider messages; ours must come through intact (no "secret …"/"signature …" phrases).
  expect(scrub(error!.message)).toBe(error!.message);
  return error!;
}

describe('answerError', () => {
  it('is undefined for a verified NOERROR', () => {
    expect(answerError(ok, 0, ctx)).toBeUndefined();
  });

  it('REFUSED: blames the update-policy of the key, names what was changed', () => {
    const error = mapped(ok, 5);
    expect(error.message).toContain('refused the update of zone example.com. (REFUSED)');
    expect(error.message).toContain('update-policy of key "certpilot" (hmac-sha256) probably does not allow changing TXT records at _acme-challenge.example.com.');
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ provider: 'rfc2136', rcode: 'REFUSED', reason: 'refused', zone: 'example.com.', key: 'certpilot', server: '192.0.2.53:53' });
  });

  it('NOTAUTH without a TSIG error: the server is not authoritative for the zone', () => {
    const error = mapped(ok, 9);
    expect(error.message).toContain('is not authoritative for zone example.com. (NOTAUTH)');
    expect(error.retryable).toBe(false);
  });

  it('NOTZONE: the names are outside the zone', () => {
    const error = mapped(ok, 10);
    expect(error.message).toContain('outside zone example.com. (NOTZONE): TXT records at _acme-challenge.example.com.');
    expect(error.retryable).toBe(false);
  });

  it('SERVFAIL is retryable', () => {
    const error = mapped(ok, 2);
    expect(error.message).toContain('(SERVFAIL)');
    expect(error.retryable).toBe(true);
  });

  it('FORMERR, NOTIMP and unknown codes are not retryable', () => {
    expect(mapped(ok, 1).message).toContain('could not parse the update (FORMERR)');
    expect(mapped(ok, 4).message).toContain('does not implement DNS UPDATE (NOTIMP)');
    expect(mapped(ok, 8).message).toContain('with NXRRSET');
    expect(mapped(ok, 15).message).toContain('with RCODE 15');
    for (const rcode of [1, 4, 8, 15]) expect(mapped(ok, rcode).retryable).toBe(false);
  });

  it('BADKEY: the server does not know the key', () => {
    const error = mapped({ status: 'unsigned-error', error: TsigError.BADKEY }, 9);
    expect(error.message).toContain('the server does not know key "certpilot" (hmac-sha256) (TSIG BADKEY)');
    expect(error.details).toMatchObject({ tsigError: 'BADKEY', reason: 'badkey' });
    expect(error.retryable).toBe(false);
  });

  it('BADSIG: the secret or algorithm differs', () => {
    const error = mapped({ status: 'unsigned-error', error: TsigError.BADSIG }, 9);
    expect(error.message).toContain('knows key "certpilot" but its MAC did not verify (TSIG BADSIG)');
    expect(error.message).toContain("the key's secret, or its algorithm, differs from the server's copy");
  });

  it('BADTIME: clock skew, with both clocks when the server sent its own', () => {
    const signed = mapped({ status: 'verified', error: TsigError.BADTIME, timeSigned: ctx.now, serverTime: ctx.now + 3600 }, 9);
    expect(signed.message).toContain('clock skew');
    expect(signed.message).toContain('(TSIG BADTIME)');
    expect(signed.message).toContain(`the server's ${new Date((ctx.now + 3600) * 1000).toISOString()} (3600 s apart)`);
    expect(signed.details).toMatchObject({ reason: 'clock-skew' });
    expect(mapped({ status: 'unsigned-error', error: TsigError.BADTIME }, 9).message).toContain('clock skew');
  });

  it('BADALG and other TSIG errors', () => {
    expect(mapped({ status: 'unsigned-error', error: TsigError.BADALG }, 9).message).toContain('does not support TSIG algorithm hmac-sha256 (TSIG BADALG)');
    expect(mapped({ status: 'unsigned-error', error: TsigError.BADTRUNC }, 9).message).toContain('(TSIG BADTRUNC)');
  });

  it('a TSIG error takes precedence over the RCODE', () => {
    expect(mapped({ status: 'verified', error: TsigError.BADKEY, timeSigned: ctx.now }, 0).details).toMatchObject({ reason: 'badkey' });
  });

  it('rejects unsigned answers, even a NOERROR, and says why they may be unsigned', () => {
    const error = mapped({ status: 'unsigned' }, 0);
    expect(error.message).toContain('(NOERROR) carries no TSIG MAC, so it cannot be trusted');
    expect(error.message).toContain('GSS-TSIG');
    expect(error.retryable).toBe(false);
  });

  it('rejects forged answers (retryable: the genuine answer may get through next time)', () => {
    const error = mapped({ status: 'bad-mac' }, 0);
    expect(error.message).toContain('failed TSIG verification');
    expect(error.retryable).toBe(true);
  });

  it('rejects answers signed by another key', () => {
    expect(mapped({ status: 'wrong-key', keyName: 'other.', algorithm: 'hmac-sha1.' }, 0).message).toContain('signed with key "other." (hmac-sha1), not with key "certpilot" (hmac-sha256)');
  });

  it('reports clock skew found while verifying an answer', () => {
    const error = mapped({ status: 'bad-time', timeSigned: ctx.now - 900, fudge: 300 }, 0);
    expect(error.message).toContain('clock skew');
    expect(error.message).toContain('900 s from our clock');
  });
});

describe('rcodeName', () => {
  it('names RCODEs and TSIG errors', () => {
    expect([0, 5, 9, 10, 16, 17, 18, 22, 99].map(rcodeName)).toEqual(['NOERROR', 'REFUSED', 'NOTAUTH', 'NOTZONE', 'BADSIG', 'BADKEY', 'BADTIME', 'BADTRUNC', 'RCODE 99']);
  });
});
