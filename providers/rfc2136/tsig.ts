/**
 * TSIG (RFC 8945): signing a request and verifying the signed response.
 *
 * The MAC covers the raw message bytes plus the "TSIG variables" (key name,
 * class, TTL, algorithm, time, fudge, error, other data), so signing works
 * on the encoded message and verification on the bytes as received — never
 * on a re-encoding, which could differ in name compression.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { RRClass, RRType, encodeName, encodeRecord, type DecodedMessage } from './message.js';

/** TSIG algorithms this client implements (RFC 4635 HMAC-SHA family; HMAC-MD5 is deliberately absent). */
export type TsigAlgorithm = 'hmac-sha1' | 'hmac-sha224' | 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

/** node:crypto digest per algorithm. */
export const TSIG_ALGORITHMS: Readonly<Record<TsigAlgorithm, string>> = {
  'hmac-sha1': 'sha1',
  'hmac-sha224': 'sha224',
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
};

/** TSIG error codes (RFC 8945 §3, IANA "DNS RCODEs"). */
export const TsigError = { BADSIG: 16, BADKEY: 17, BADTIME: 18, BADMODE: 19, BADNAME: 20, BADALG: 21, BADTRUNC: 22 } as const;

/** Seconds of clock difference a signature tolerates; 300 is RFC 8945's recommendation and what BIND sends. */
export const DEFAULT_FUDGE = 300;

/** A TSIG key ready for use (see {@link createTsigKey}). The secret is a KeyObject so that inspecting or logging it never prints the bytes. */
export interface TsigKey {
  /** Key name as the server knows it, lower-case and absolute (`certpilot-key.`). */
  name: string;
  algorithm: TsigAlgorithm;
  secret: KeyObject;
}

/** The fields of a TSIG record's RDATA. */
export interface TsigRdata {
  algorithm: string;
  /** Seconds since the epoch. */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
}

/**
 * Validates and normalizes a key as users write it (BIND's `key` statement:
 * name, base64 secret, algorithm with or without a trailing dot). Throws a
 * plain Error whose message never contains the secret.
 */
export function createTsigKey(input: { name: string; secret: string; algorithm?: string }): TsigKey {
  const name = typeof input.name === 'string' ? input.name.trim().toLowerCase().replace(/\.?$/, '.') : '';
  if (name === '.' || name === '') throw new Error('tsig.name is required (the name of the key in the server\'s key statement)');
  encodeName(name); // throws on labels > 63 bytes and the like
  const algorithm = String(input.algorithm ?? 'hmac-sha256').trim().toLowerCase().replace(/\.$/, '');
  if (!Object.hasOwn(TSIG_ALGORITHMS, algorithm)) {
    throw new Error(`tsig.algorithm ${JSON.stringify(input.algorithm)} is not supported; use one of ${Object.keys(TSIG_ALGORITHMS).join(', ')}`);
  }
  const secret = typeof input.secret === 'string' ? input.secret.replace(/\s+/g, '') : '';
  // Buffer.from(…, 'base64') silently skips junk, so check the alphabet first: a typo must not become another key.
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/.test(secret) || secret === '') {
    throw new Error('tsig.secret must be the base64 secret of the key (as in the key statement or tsig-keygen output)');
  }
  return { name, algorithm: algorithm as TsigAlgorithm, secret: createSecretKey(Buffer.from(secret, 'base64')) };
}

function uint48(value: number): Buffer {
  const out = Buffer.alloc(6);
  out.writeUIntBE(value, 0, 6);
  return out;
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value, 0);
  return out;
}

/** TSIG variables (RFC 8945 §4.3.3), the part of the MAC input after the message. */
function variables(key: TsigKey, t: Pick<TsigRdata, 'timeSigned' | 'fudge' | 'error' | 'otherData'>, algorithm: string = key.algorithm): Buffer {
  const ttl = Buffer.alloc(4); // TTL 0
  return Buffer.concat([
    encodeName(key.name, true),
    u16(RRClass.ANY),
    ttl,
    encodeName(algorithm, true),
    uint48(t.timeSigned),
    u16(t.fudge),
    u16(t.error),
    u16(t.otherData.length),
    t.otherData,
  ]);
}

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const mac = createHmac(TSIG_ALGORITHMS[key.algorithm], key.secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

function encodeTsigRdata(t: TsigRdata): Buffer {
  return Buffer.concat([
    encodeName(t.algorithm, true),
    uint48(t.timeSigned),
    u16(t.fudge),
    u16(t.mac.length),
    t.mac,
    u16(t.originalId),
    u16(t.error),
    u16(t.otherData.length),
    t.otherData,
  ]);
}

/** Parses TSIG RDATA; returns undefined when it is malformed. */
export function decodeTsigRdata(rdata: Uint8Array): TsigRdata | undefined {
  const bytes = Buffer.from(rdata.buffer, rdata.byteOffset, rdata.byteLength);
  // The algorithm name is never compressed (RFC 8945 §4.2), so it reads without the whole message.
  const labels: string[] = [];
  let at = 0;
  while (at < bytes.length && bytes[at] !== 0) {
    const length = bytes[at]!;
    if (length > 63 || at + 1 + length > bytes.length) return undefined;
    labels.push(bytes.subarray(at + 1, at + 1 + length).toString('latin1'));
    at += 1 + length;
  }
  at += 1;
  if (at + 10 > bytes.length) return undefined;
  const timeSigned = bytes.readUIntBE(at, 6);
  const fudge = bytes.readUInt16BE(at + 6);
  const macSize = bytes.readUInt16BE(at + 8);
  at += 10;
  if (at + macSize + 6 > bytes.length) return undefined;
  const mac = Buffer.from(bytes.subarray(at, at + macSize));
  at += macSize;
  const originalId = bytes.readUInt16BE(at);
  const error = bytes.readUInt16BE(at + 2);
  const otherLength = bytes.readUInt16BE(at + 4);
  at += 6;
  if (at + otherLength !== bytes.length) return undefined;
  const otherData = Buffer.from(bytes.subarray(at, at + otherLength));
  return { algorithm: `${labels.join('.')}.`, timeSigned, fudge, mac, originalId, error, otherData };
}

/**
 * Signs an encoded request: appends a TSIG record (ARCOUNT + 1) whose MAC
 * covers the message as given plus the TSIG variables (RFC 8945 §4.3.1).
 * Returns the signed message and the MAC, which the response's MAC covers.
 */
export function signRequest(message: Buffer, key: TsigKey, timeSigned: number, fudge = DEFAULT_FUDGE): { message: Buffer; mac: Buffer } {
  const t = { timeSigned, fudge, error: 0, otherData: Buffer.alloc(0) };
  const mac = hmac(key, message, variables(key, t));
  const record = encodeRecord({
    name: key.name,
    type: RRType.TSIG,
    class: RRClass.ANY,
    ttl: 0,
    rdata: encodeTsigRdata({ ...t, algorithm: key.algorithm, mac, originalId: message.readUInt16BE(0) }),
  });
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message: signed, mac };
}

/** What verifying a response found. Only `verified` means the server (holder of the key) sent it. */
export type TsigVerdict =
  /** The MAC is good. `error` is the TSIG error the server reported (0, or BADTIME with its clock in `serverTime`). */
  | { status: 'verified'; error: number; timeSigned: number; serverTime?: number }
  /** No TSIG record: a server without TSIG support, or a forgery. */
  | { status: 'unsigned' }
  /** A TSIG record without a MAC: how servers answer BADKEY/BADSIG (RFC 8945 §5.3.2). Not authenticated. */
  | { status: 'unsigned-error'; error: number }
  /** Signed, but with another key or algorithm than the request's. */
  | { status: 'wrong-key'; keyName: string; algorithm: string }
  /** The MAC does not match: forged, altered, or signed with another secret. */
  | { status: 'bad-mac' }
  /** The MAC is good but the signature time is outside the fudge (RFC 8945 §5.2.3, checked after the MAC). */
  | { status: 'bad-time'; timeSigned: number; fudge: number };

/**
 * Verifies the TSIG record of a response to a request signed with
 * `requestMac` (RFC 8945 §5.3). `now` is in seconds since the epoch.
 */
export function verifyResponse(bytes: Buffer, decoded: DecodedMessage, requestMac: Buffer, key: TsigKey, now: number): TsigVerdict {
  const last = decoded.additional[decoded.additional.length - 1];
  // TSIG must be the last record of the message (RFC 8945 §5.1); anywhere else it does not count.
  if (!last || last.type !== RRType.TSIG) return { status: 'unsigned' };
  const t = decodeTsigRdata(last.rdata);
  if (!t) return { status: 'bad-mac' };
  if (t.mac.length === 0) return t.error ? { status: 'unsigned-error', error: t.error } : { status: 'unsigned' };
  if (last.name.toLowerCase() !== key.name || t.algorithm.toLowerCase() !== `${key.algorithm}.`) {
    return { status: 'wrong-key', keyName: last.name, algorithm: t.algorithm };
  }
  // The MAC covers the message as it was before the TSIG record was added: original ID, ARCOUNT - 1.
  const unsigned = Buffer.from(bytes.subarray(0, last.offset));
  unsigned.writeUInt16BE(t.originalId, 0);
  unsigned.writeUInt16BE(decoded.additional.length - 1, 10);
  const expected = hmac(key, u16(requestMac.length), requestMac, unsigned, variables(key, t, t.algorithm));
  // Truncated MACs are allowed down to half the hash and at least 10 bytes (RFC 8945 §5.2.2.1).
  const minimum = Math.max(10, expected.length / 2);
  if (t.mac.length < minimum || t.mac.length > expected.length || !timingSafeEqual(t.mac, expected.subarray(0, t.mac.length))) {
    return { status: 'bad-mac' };
  }
  if (t.error === TsigError.BADTIME) {
    const serverTime = t.otherData.length === 6 ? t.otherData.readUIntBE(0, 6) : undefined;
    return { status: 'verified', error: t.error, timeSigned: t.timeSigned, ...(serverTime !== undefined ? { serverTime } : {}) };
  }
  if (Math.abs(now - t.timeSigned) > t.fudge) return { status: 'bad-time', timeSigned: t.timeSigned, fudge: t.fudge };
  return { status: 'verified', error: t.error, timeSigned: t.timeSigned };
}
