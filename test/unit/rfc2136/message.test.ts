/** DNS wire encoding and decoding for RFC 2136: names, TXT strings, UPDATE messages, compressed answers. */
import { describe, expect, it } from 'vitest';
import {
  RRClass, RRType, WireFormatError, decodeMessage, decodeName, decodeTxt, encodeName, encodeRecord, encodeTxt, encodeUpdate,
} from '../../../providers/rfc2136/message.js';

const hex = (b: Buffer) => b.toString('hex');

/**
 * BIND 9.18 `nsupdate` sent this for `zone example.test.` + `update add _acme-challenge.www.example.test.
 * 60 IN TXT "hello-vector"`, followed by its TSIG record (cut off here, ARCOUNT reset to 0).
 */
const NSUPDATE_UNSIGNED =
  'ab1b28000001000000010000076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676503777777076578616d706c65047465737400001000010000003c000d0c68656c6c6f2d766563746f72';

describe('encodeName', () => {
  it('encodes labels and the root, with or without the trailing dot', () => {
    expect(hex(encodeName('example.test.'))).toBe('076578616d706c650474657374' + '00');
    expect(hex(encodeName('example.test'))).toBe('076578616d706c650474657374' + '00');
    expect(hex(encodeName('.'))).toBe('00');
  });

  it('keeps case unless canonical form is asked for (TSIG names)', () => {
    expect(encodeName('Key.Example.').toString('latin1')).toContain('Key');
    expect(encodeName('Key.Example.', true).toString('latin1')).toContain('key');
  });

  it('refuses empty labels, labels over 63 bytes and names over 255 bytes', () => {
    expect(() => encodeName('a..b.')).toThrow(WireFormatError);
    expect(() => encodeName(`${'a'.repeat(64)}.test.`)).toThrow(/longer than 63 bytes/);
    expect(() => encodeName(`${'a'.repeat(63)}.`.repeat(4))).toThrow(/longer than 255 bytes/);
    expect(encodeName(`${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(61) + '.')).toHaveLength(255);
  });
});

describe('TXT character-strings', () => {
  const lengths = (rdata: Buffer) => {
    const out: number[] = [];
    for (let at = 0; at < rdata.length; at += 1 + rdata[at]!) out.push(rdata[at]!);
    return out;
  };

  it('puts a short value in one string', () => {
    expect(hex(encodeTxt('abc'))).toBe('03616263');
  });

  it('encodes the empty value as one empty string', () => {
    expect(hex(encodeTxt(''))).toBe('00');
    expect(decodeTxt(encodeTxt(''))).toEqual(['']);
  });

  it('splits values over 255 bytes into consecutive strings that join back', () => {
    expect(lengths(encodeTxt('a'.repeat(255)))).toEqual([255]);
    expect(lengths(encodeTxt('a'.repeat(256)))).toEqual([255, 1]);
    const long = 'x'.repeat(600);
    expect(lengths(encodeTxt(long))).toEqual([255, 255, 90]);
    expect(decodeTxt(encodeTxt(long)).join('')).toBe(long);
  });

  it('counts bytes, not characters', () => {
    expect(lengths(encodeTxt('é'.repeat(200)))).toEqual([255, 145]);
  });

  it('rejects a string that runs past the RDATA', () => {
    expect(() => decodeTxt(Buffer.from([5, 0x61]))).toThrow(WireFormatError);
  });
});

describe('encodeUpdate', () => {
  it('produces the bytes nsupdate sends (header, zone section, ADD in the update section)', () => {
    const message = encodeUpdate(0xab1b, 'example.test.', [
      { name: '_acme-challenge.www.example.test.', type: RRType.TXT, class: RRClass.IN, ttl: 60, rdata: encodeTxt('hello-vector') },
    ]);
    expect(hex(message)).toBe(NSUPDATE_UNSIGNED);
  });

  it('encodes a delete of one RR as class NONE, TTL 0, exact RDATA (RFC 2136 §2.5.4)', () => {
    const record = encodeRecord({ name: 'a.example.', type: RRType.TXT, class: RRClass.NONE, ttl: 0, rdata: encodeTxt('v') });
    expect(hex(record)).toBe('0161076578616d706c6500' + '0010' + '00fe' + '00000000' + '0002' + '0176');
  });

  it('refuses RDATA that cannot be encoded', () => {
    expect(() => encodeRecord({ name: 'a.', type: RRType.TXT, class: RRClass.IN, ttl: 60, rdata: encodeTxt('x'.repeat(70_000)) })).toThrow(/more than 65535/);
  });

  it('decodes what it encodes', () => {
    const message = encodeUpdate(7, 'example.test.', [
      { name: 'a.example.test.', type: RRType.TXT, class: RRClass.IN, ttl: 300, rdata: encodeTxt('one') },
      { name: 'a.example.test.', type: RRType.TXT, class: RRClass.NONE, ttl: 0, rdata: encodeTxt('two') },
    ]);
    const decoded = decodeMessage(message);
    expect(decoded).toMatchObject({ id: 7, qr: false, opcode: 5, tc: false, rcode: 0, zones: [{ name: 'example.test.', type: RRType.SOA, class: RRClass.IN }] });
    expect(decoded.updates.map((r) => [r.name, r.class, r.ttl, decodeTxt(r.rdata)])).toEqual([
      ['a.example.test.', RRClass.IN, 300, ['one']],
      ['a.example.test.', RRClass.NONE, 0, ['two']],
    ]);
  });
});

describe('decoding compressed names', () => {
  // Header (1 zone entry, 1 update RR), zone "example.test.", then an RR whose owner is "www" + pointer to offset 12.
  const message = Buffer.concat([
    Buffer.from('00018000000100000001 0000'.replace(/ /g, ''), 'hex'),
    encodeName('example.test.'),
    Buffer.from('00060001', 'hex'),
    Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12]),
    Buffer.from('0010000100000e10000403616263', 'hex'),
  ]);

  it('follows a pointer and continues after it', () => {
    const at = 12 + encodeName('example.test.').length + 4;
    expect(decodeName(message, at)).toEqual({ name: 'www.example.test.', next: at + 6 });
    const decoded = decodeMessage(message);
    expect(decoded.updates[0]).toMatchObject({ name: 'www.example.test.', type: RRType.TXT, ttl: 3600 });
    expect(decodeTxt(decoded.updates[0]!.rdata)).toEqual(['abc']);
  });

  it('follows chains of pointers', () => {
    const chained = Buffer.concat([message, Buffer.from([2, 0x78, 0x78, 0xc0, message.length - 20])]);
    expect(decodeName(chained, message.length).name).toBe('xx.www.example.test.');
  });

  it('rejects pointer loops, forward pointers and truncation', () => {
    const loop = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 12])]);
    expect(() => decodeName(loop, 12)).toThrow(/backwards/);
    const forward = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 14, 0])]);
    expect(() => decodeName(forward, 12)).toThrow(/backwards/);
    expect(() => decodeName(Buffer.from([3, 0x61]), 0)).toThrow(WireFormatError);
    expect(() => decodeMessage(message.subarray(0, message.length - 3))).toThrow(WireFormatError);
    expect(() => decodeMessage(Buffer.alloc(5))).toThrow(/shorter than its header/);
  });

  it('escapes dots inside labels', () => {
    expect(decodeName(Buffer.from([3, 0x61, 0x2e, 0x62, 0]), 0).name).toBe('a\\.b.');
  });
});
