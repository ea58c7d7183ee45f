/**
 * TSIG signing against known vectors from BIND's own tools, and verification
 * of real `named` answers (captured once; see the constants below).
 */
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RRClass, RRType, decodeMessage, encodeName, encodeRecord } from '../../../providers/rfc2136/message.js';
import { TsigError, createTsigKey, decodeTsigRdata, signRequest, verifyResponse, type TsigKey } from '../../../providers/rfc2136/tsig.js';

/**
 * Wire captures used as known vectors (hex). Secrets here are throwaway test keys.
 *
 * - NSUPDATE_*: what BIND 9.18's `nsupdate -y ALG:vector-key:SECRET` sent for
 *   `zone example.test.` / `update add _acme-challenge.www.example.test. 60 IN TXT "hello-vector"`
 *   (captured on a UDP socket), so our signer must reproduce them byte for byte.
 * - BIND_*: answers of a real `named` 9.18 to updates signed by us with BIND_SECRET
 *   (key `certpilot-test-key`, hmac-sha256), with the request MAC each answer covers.
 */
export const NSUPDATE_SECRET = 'c2VjcmV0LWtleS1mb3ItY2VydHBpbG90LXRlc3RzLTAxMjM0NTY3ODk=';

export const NSUPDATE = {
  'hmac-sha256':
    'ab1b28000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676503777777076578616d706c65047465737400001000010000003c000d0c68656c6c6f2d766563746f720a766563746f722d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b132055012c0020fe109ae90bd03e95f4d445d7c04da30b47d4cd1bc78c0b70eb19dd6fd92dc158ab1b00000000',
  'hmac-sha512':
    '088528000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676503777777076578616d706c65047465737400001000010000003c000d0c68656c6c6f2d766563746f720a766563746f722d6b65790000fa00ff00000000005d0b686d61632d7368613531320000006b132055012c0040699f130255fe17846e5416417cdfdb1dbdd61d6c85da2abf3d35e541a93bc496befa082454a58065b1c20330f990ff7d2b6352b4d5823b8686b7af73796240b7088500000000',
  'hmac-sha1':
    '6a5b28000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676503777777076578616d706c65047465737400001000010000003c000d0c68656c6c6f2d766563746f720a766563746f722d6b65790000fa00ff00000000002f09686d61632d736861310000006b132055012c00147dd3166ead3c2422238df94d6070343c2c7e92ec6a5b00000000',
} as const;

export const BIND_SECRET = '117Iej5n2bYccm2FrupRe6oLN78Xdqe0UhAxwvpjH68=';
export const BIND_KEY_NAME = 'certpilot-test-key';

/** NOERROR to an ADD of TXT "response-vector" at _acme-challenge.vector.example.test., signed at BIND_OK.time. */
export const BIND_OK = {
  time: 1796415831,
  requestMac: '357fc50e97a67e691b77a414f48e7e6c8f35b1e7ef5ebd582d2a64424940a0bf',
  response:
    '1234a8000001000000000001076578616d706c6504746573740000060001126365727470696c6f742d746573742d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b132157012c0020873cb81a694d40cd7d5296a07ea1143e702892b2fdb3f467d9976c77f3de692b123400000000',
};

/** REFUSED (signed) to an ADD of an A record, which the TXT-only key may not change. */
export const BIND_REFUSED = {
  time: 1796415831,
  requestMac: 'caed93d86d5ece30ccb12f5a42319a7d73dc0dd37ee8f7b1a2f0c52f27fd83aa',
  response:
    '1235a8050001000000000001076578616d706c6504746573740000060001126365727470696c6f742d746573742d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b132157012c0020334aedd07921126adac2758df95d06ecc04c103304efb8a17059801aaf3eeb5f123500000000',
};

/** NOTAUTH + TSIG BADTIME (signed, server clock in Other Data) to a request signed an hour in the past. */
export const BIND_BADTIME = {
  time: 1796412231,
  serverTime: 1796415831,
  requestMac: '7c1432157af59b7ab1255137ddf39e568a2935d357cccb9cacb42aeecf2b7635',
  response:
    '1234a8090001000000000001076578616d706c6504746573740000060001126365727470696c6f742d746573742d6b65790000fa00ff0000000000430b686d61632d7368613235360000006b131347012c0020c818b2b8d460e6c2798c63206cd6179e39f855ba62648be2a06704027275fc4e12340012000600006b132157',
};

const bytes = (hexText: string) => Buffer.from(hexText, 'hex');
const bindKey = () => createTsigKey({ name: BIND_KEY_NAME, secret: BIND_SECRET });

/** Splits a signed message into the unsigned message (ARCOUNT - 1) and its TSIG fields. */
function unsign(signed: Buffer) {
  const decoded = decodeMessage(signed);
  const tsig = decoded.additional.at(-1)!;
  const message = Buffer.from(signed.subarray(0, tsig.offset));
  message.writeUInt16BE(decoded.additional.length - 1, 10);
  return { message, tsig: decodeTsigRdata(tsig.rdata)!, keyName: tsig.name };
}

/** Replaces the last record (the TSIG) of `response` by one with these RDATA fields. */
function withTsig(response: Buffer, change: (rdata: ReturnType<typeof decodeTsigRdata> & object) => Buffer): Buffer {
  const decoded = decodeMessage(response);
  const tsig = decoded.additional.at(-1)!;
  const rdata = change(decodeTsigRdata(tsig.rdata)!);
  return Buffer.concat([response.subarray(0, tsig.offset), encodeRecord({ name: tsig.name, type: RRType.TSIG, class: RRClass.ANY, ttl: 0, rdata })]);
}

function tsigRdata(t: { algorithm: string; timeSigned: number; fudge: number; mac: Buffer; originalId: number; error: number; otherData: Buffer }): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUIntBE(t.timeSigned, 0, 6);
  fixed.writeUInt16BE(t.fudge, 6);
  fixed.writeUInt16BE(t.mac.length, 8);
  const tail = Buffer.alloc(6);
  tail.writeUInt16BE(t.originalId, 0);
  tail.writeUInt16BE(t.error, 2);
  tail.writeUInt16BE(t.otherData.length, 4);
  return Buffer.concat([encodeName(t.algorithm), fixed, t.mac, tail, t.otherData]);
}

describe('signRequest', () => {
  for (const [algorithm, vector] of Object.entries(NSUPDATE)) {
    it(`reproduces nsupdate's ${algorithm} signature byte for byte`, () => {
      const signed = bytes(vector);
      const { message, tsig } = unsign(signed);
      const key = createTsigKey({ name: 'vector-key', secret: NSUPDATE_SECRET, algorithm: algorithm as TsigKey['algorithm'] });
      const ours = signRequest(message, key, tsig.timeSigned, tsig.fudge);
      expect(ours.message.toString('hex')).toBe(vector);
      expect(ours.mac).toEqual(tsig.mac);
    });
  }

  it('signs with the canonical (lower-case) key name, as the server compares it', () => {
    const { message, tsig } = unsign(bytes(NSUPDATE['hmac-sha256']));
    const key = createTsigKey({ name: 'Vector-Key.', secret: NSUPDATE_SECRET });
    expect(signRequest(message, key, tsig.timeSigned).message.toString('hex')).toBe(NSUPDATE['hmac-sha256']);
  });
});

describe('verifyResponse', () => {
  const verify = (response: Buffer, requestMac: string, now: number, key = bindKey()) =>
    verifyResponse(response, decodeMessage(response), bytes(requestMac), key, now);

  it("accepts named's signed NOERROR answer", () => {
    expect(verify(bytes(BIND_OK.response), BIND_OK.requestMac, BIND_OK.time)).toEqual({ status: 'verified', error: 0, timeSigned: BIND_OK.time });
  });

  it("accepts named's signed REFUSED answer (the rcode is interpreted elsewhere)", () => {
    expect(verify(bytes(BIND_REFUSED.response), BIND_REFUSED.requestMac, BIND_REFUSED.time)).toMatchObject({ status: 'verified', error: 0 });
    expect(decodeMessage(bytes(BIND_REFUSED.response)).rcode).toBe(5);
  });

  it('reads the server clock from a signed BADTIME answer', () => {
    const verdict = verify(bytes(BIND_BADTIME.response), BIND_BADTIME.requestMac, BIND_BADTIME.serverTime);
    expect(verdict).toEqual({ status: 'verified', error: TsigError.BADTIME, timeSigned: BIND_BADTIME.time, serverTime: BIND_BADTIME.serverTime });
  });

  it('rejects an answer altered on the way', () => {
    const altered = bytes(BIND_OK.response);
    altered[3] = 0x05; // NOERROR → REFUSED
    expect(verify(altered, BIND_OK.requestMac, BIND_OK.time)).toEqual({ status: 'bad-mac' });
  });

  it('rejects an answer to another request (the MAC covers the request MAC)', () => {
    expect(verify(bytes(BIND_OK.response), BIND_REFUSED.requestMac, BIND_OK.time)).toEqual({ status: 'bad-mac' });
  });

  it('rejects an answer signed with another secret', () => {
    const other = createTsigKey({ name: BIND_KEY_NAME, secret: NSUPDATE_SECRET });
    expect(verify(bytes(BIND_OK.response), BIND_OK.requestMac, BIND_OK.time, other)).toEqual({ status: 'bad-mac' });
  });

  it('rejects an answer signed with another key name or algorithm', () => {
    const renamed = createTsigKey({ name: 'another-key', secret: BIND_SECRET });
    expect(verify(bytes(BIND_OK.response), BIND_OK.requestMac, BIND_OK.time, renamed)).toMatchObject({ status: 'wrong-key', keyName: `${BIND_KEY_NAME}.` });
    const sha512 = createTsigKey({ name: BIND_KEY_NAME, secret: BIND_SECRET, algorithm: 'hmac-sha512' });
    expect(verify(bytes(BIND_OK.response), BIND_OK.requestMac, BIND_OK.time, sha512)).toMatchObject({ status: 'wrong-key', algorithm: 'hmac-sha256.' });
  });

  it('rejects an unsigned answer', () => {
    const response = bytes(BIND_OK.response);
    const tsig = decodeMessage(response).additional[0]!;
    const stripped = Buffer.from(response.subarray(0, tsig.offset));
    stripped.writeUInt16BE(0, 10);
    expect(verify(stripped, BIND_OK.requestMac, BIND_OK.time)).toEqual({ status: 'unsigned' });
  });

  it('reports a TSIG error answered without a MAC (BADKEY/BADSIG) as unauthenticated', () => {
    const response = withTsig(bytes(BIND_OK.response), (t) => tsigRdata({ ...t, mac: Buffer.alloc(0), error: TsigError.BADKEY }));
    expect(verify(response, BIND_OK.requestMac, BIND_OK.time)).toEqual({ status: 'unsigned-error', error: TsigError.BADKEY });
    const noError = withTsig(bytes(BIND_OK.response), (t) => tsigRdata({ ...t, mac: Buffer.alloc(0) }));
    expect(verify(noError, BIND_OK.requestMac, BIND_OK.time)).toEqual({ status: 'unsigned' });
  });

  it('checks the signing time after the MAC, within the fudge', () => {
    expect(verify(bytes(BIND_OK.response), BIND_OK.requestMac, BIND_OK.time + 300)).toMatchObject({ status: 'verified' });
    expect(verify(bytes(BIND_OK.response), BIND_OK.requestMac, BIND_OK.time - 301)).toEqual({ status: 'bad-time', timeSigned: BIND_OK.time, fudge: 300 });
  });

  it('accepts a MAC truncated to half the hash, and no shorter', () => {
    // Re-sign the captured answer the way a server does (RFC 8945 §4.3.2), then truncate the MAC.
    const response = bytes(BIND_OK.response);
    const decoded = decodeMessage(response);
    const tsig = decodeTsigRdata(decoded.additional[0]!.rdata)!;
    const unsigned = Buffer.from(response.subarray(0, decoded.additional[0]!.offset));
    unsigned.writeUInt16BE(0, 10);
    const timeAndFudge = Buffer.alloc(8);
    timeAndFudge.writeUIntBE(tsig.timeSigned, 0, 6);
    timeAndFudge.writeUInt16BE(tsig.fudge, 6);
    // TSIG variables: key name, class ANY, TTL 0, algorithm, time, fudge, error 0, other length 0.
    const vars = Buffer.concat([encodeName(`${BIND_KEY_NAME}.`), Buffer.from('00ff00000000', 'hex'), encodeName('hmac-sha256.'), timeAndFudge, Buffer.from('00000000', 'hex')]);
    const requestMac = bytes(BIND_OK.requestMac);
    const prefix = Buffer.from([0, requestMac.length]);
    const full = createHmac('sha256', Buffer.from(BIND_SECRET, 'base64')).update(Buffer.concat([prefix, requestMac, unsigned, vars])).digest();
    expect(full).toEqual(tsig.mac); // the helper above computes what named computed
    const truncated = (length: number) => withTsig(response, (t) => tsigRdata({ ...t, mac: full.subarray(0, length) }));
    expect(verify(truncated(16), BIND_OK.requestMac, BIND_OK.time)).toMatchObject({ status: 'verified' });
    expect(verify(truncated(15), BIND_OK.requestMac, BIND_OK.time)).toEqual({ status: 'bad-mac' });
  });
});

describe('createTsigKey', () => {
  it('normalizes the name and algorithm as BIND writes them', () => {
    const key = createTsigKey({ name: ' Certpilot ', secret: BIND_SECRET, algorithm: 'HMAC-SHA512.' as never });
    expect(key).toMatchObject({ name: 'certpilot.', algorithm: 'hmac-sha512' });
    expect(createTsigKey({ name: 'k.', secret: BIND_SECRET }).algorithm).toBe('hmac-sha256');
  });

  it('accepts a secret split over lines', () => {
    expect(() => createTsigKey({ name: 'k', secret: `${BIND_SECRET.slice(0, 20)}\n  ${BIND_SECRET.slice(20)}` })).not.toThrow();
  });

  it('refuses unknown algorithms, including HMAC-MD5 and inherited property names', () => {
    for (const algorithm of ['hmac-md5', 'hmac-md5.sig-alg.reg.int', 'toString', 'sha256']) {
      expect(() => createTsigKey({ name: 'k', secret: BIND_SECRET, algorithm })).toThrow(/not supported/);
    }
  });

  it('refuses a missing name or a secret that is not base64, without echoing the secret', () => {
    expect(() => createTsigKey({ name: '', secret: BIND_SECRET })).toThrow(/tsig.name is required/);
    const bad = 'not base64 at all!!secretvalue';
    let message = '';
    try { createTsigKey({ name: 'k', secret: bad }); } catch (error) { message = (error as Error).message; }
    expect(message).toMatch(/tsig.secret must be the base64/);
    expect(message).not.toContain('secretvalue');
    expect(() => createTsigKey({ name: 'k', secret: '' })).toThrow(/base64/);
  });

  it('never shows the secret when the key is inspected or serialized', () => {
    const key = createTsigKey({ name: 'k', secret: BIND_SECRET });
    expect(inspect(key, { depth: 5 })).not.toContain(BIND_SECRET);
    expect(JSON.stringify(key)).not.toContain(BIND_SECRET);
    expect(inspect(key, { depth: 5 })).not.toContain(Buffer.from(BIND_SECRET, 'base64').toString('hex'));
  });
});
