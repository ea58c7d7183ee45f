/**
 * DNS wire format (RFC 1035 §4) for exactly what RFC 2136 UPDATE needs:
 * encoding an UPDATE message (zone section + update section), and decoding
 * any response far enough to read its header and records — including the
 * byte offsets TSIG verification needs, since a MAC covers raw bytes, not a
 * re-encoding.
 *
 * We never compress names when encoding (a few bytes saved are not worth a
 * second code path, and TSIG names must not be compressed anyway), but we
 * follow compression pointers when decoding, because servers use them.
 */

/** Resource record types used here. */
export const RRType = { A: 1, SOA: 6, TXT: 16, TSIG: 250, ANY: 255 } as const;

/** Resource record classes used here. `NONE` marks "delete this RR" in an UPDATE (RFC 2136 §2.5.4). */
export const RRClass = { IN: 1, NONE: 254, ANY: 255 } as const;

/** The UPDATE opcode (RFC 2136 §1). */
export const OPCODE_UPDATE = 5;

/** Largest DNS message we send over UDP; larger ones go over TCP, as nsupdate does. */
export const MAX_UDP_MESSAGE = 512;

/** One resource record, with its RDATA already in wire form. */
export interface ResourceRecord {
  /** Owner name, absolute (a trailing dot is optional). */
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: Uint8Array;
}

/** A decoded record, with where it sits in the message it came from. */
export interface DecodedRecord extends ResourceRecord {
  /** Offset of the record's first byte (its owner name). */
  offset: number;
  /** Offset of the first RDATA byte. */
  rdataOffset: number;
}

/** The parts of a decoded message the UPDATE client reads. */
export interface DecodedMessage {
  id: number;
  /** True for a response. */
  qr: boolean;
  opcode: number;
  /** Truncated: the answer did not fit a UDP datagram. */
  tc: boolean;
  /** The 4-bit header RCODE. */
  rcode: number;
  /** Zone (question) section entries. */
  zones: { name: string; type: number; class: number }[];
  /** Prerequisite, update and additional sections, in order. */
  prerequisites: DecodedRecord[];
  updates: DecodedRecord[];
  additional: DecodedRecord[];
}

/** Thrown for bytes that are not a well-formed DNS message, or names that cannot be encoded. */
export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

/**
 * Encodes an absolute domain name as uncompressed labels. `canonical`
 * lower-cases it (RFC 4034 §6.2), as TSIG requires for the key and
 * algorithm names in the MAC input.
 */
export function encodeName(name: string, canonical = false): Buffer {
  const text = canonical ? name.toLowerCase() : name;
  const labels = text === '.' || text === '' ? [] : text.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0) throw new WireFormatError(`empty label in DNS name "${name}"`);
    if (bytes.length > 63) throw new WireFormatError(`label "${label}" of DNS name "${name}" is longer than 63 bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new WireFormatError(`DNS name "${name}" is longer than 255 bytes`);
  return wire;
}

/**
 * TXT RDATA: one or more <character-string>s (RFC 1035 §3.3.14), each at
 * most 255 bytes. Longer values are split into consecutive strings, which
 * resolvers join back together (RFC 7208 §3.3 relies on the same rule).
 */
export function encodeTxt(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length || parts.length === 0; at += 255) {
    const chunk = bytes.subarray(at, at + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

/** Splits TXT RDATA into its <character-string>s. */
export function decodeTxt(rdata: Uint8Array): string[] {
  const bytes = Buffer.from(rdata.buffer, rdata.byteOffset, rdata.byteLength);
  const strings: string[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes[at]!;
    if (at + 1 + length > bytes.length) throw new WireFormatError('TXT character-string runs past its RDATA');
    strings.push(bytes.subarray(at + 1, at + 1 + length).toString('utf8'));
    at += 1 + length;
  }
  return strings;
}

/** Encodes one record (uncompressed owner name). */
export function encodeRecord(record: ResourceRecord): Buffer {
  if (record.rdata.length > 0xffff) throw new WireFormatError(`RDATA of ${record.name} is ${record.rdata.length} bytes, more than 65535`);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(record.type, 0);
  fixed.writeUInt16BE(record.class, 2);
  fixed.writeUInt32BE(record.ttl >>> 0, 4);
  fixed.writeUInt16BE(record.rdata.length, 8);
  return Buffer.concat([encodeName(record.name), fixed, record.rdata]);
}

/**
 * An UPDATE message: header, one zone entry (`zone SOA IN`), no
 * prerequisites, `updates` in the update section, nothing additional (TSIG
 * is appended by the signer).
 */
export function encodeUpdate(id: number, zone: string, updates: readonly ResourceRecord[]): Buffer {
  if (updates.length > 0xffff) throw new WireFormatError(`${updates.length} records do not fit one message`);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(OPCODE_UPDATE << 11, 2);
  header.writeUInt16BE(1, 4); // ZOCOUNT
  header.writeUInt16BE(0, 6); // PRCOUNT
  header.writeUInt16BE(updates.length, 8); // UPCOUNT
  header.writeUInt16BE(0, 10); // ADCOUNT
  const zoneEntry = Buffer.alloc(4);
  zoneEntry.writeUInt16BE(RRType.SOA, 0);
  zoneEntry.writeUInt16BE(RRClass.IN, 2);
  return Buffer.concat([header, encodeName(zone), zoneEntry, ...updates.map(encodeRecord)]);
}

/**
 * Reads a possibly compressed name at `offset`. Returns the name in
 * presentation form (trailing dot; `.` and `\` inside labels escaped) and
 * the offset just past it in the original position.
 */
export function decodeName(bytes: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let at = offset;
  let next = -1;
  let length = 0;
  // Each pointer must point strictly backwards, so following them always ends.
  let limit = offset;
  for (;;) {
    if (at >= bytes.length) throw new WireFormatError('DNS name runs past the end of the message');
    const byte = bytes[at]!;
    if ((byte & 0xc0) === 0xc0) {
      if (at + 1 >= bytes.length) throw new WireFormatError('truncated compression pointer');
      const target = ((byte & 0x3f) << 8) | bytes[at + 1]!;
      if (target >= limit) throw new WireFormatError('compression pointer does not point backwards');
      if (next === -1) next = at + 2;
      limit = target;
      at = target;
      continue;
    }
    if (byte & 0xc0) throw new WireFormatError(`unsupported label type 0x${byte.toString(16)}`);
    if (byte === 0) {
      if (next === -1) next = at + 1;
      break;
    }
    if (at + 1 + byte > bytes.length) throw new WireFormatError('DNS label runs past the end of the message');
    length += byte + 1;
    if (length > 254) throw new WireFormatError('DNS name is longer than 255 bytes');
    labels.push(bytes.subarray(at + 1, at + 1 + byte).toString('latin1').replace(/[.\\]/g, '\\$&'));
    at += 1 + byte;
  }
  return { name: labels.length ? `${labels.join('.')}.` : '.', next };
}

function decodeRecords(bytes: Buffer, start: number, count: number): { records: DecodedRecord[]; next: number } {
  const records: DecodedRecord[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    const { name, next } = decodeName(bytes, at);
    if (next + 10 > bytes.length) throw new WireFormatError('resource record header runs past the end of the message');
    const rdlength = bytes.readUInt16BE(next + 8);
    const rdataOffset = next + 10;
    if (rdataOffset + rdlength > bytes.length) throw new WireFormatError('RDATA runs past the end of the message');
    records.push({
      name,
      type: bytes.readUInt16BE(next),
      class: bytes.readUInt16BE(next + 2),
      ttl: bytes.readUInt32BE(next + 4),
      rdata: bytes.subarray(rdataOffset, rdataOffset + rdlength),
      offset: at,
      rdataOffset,
    });
    at = rdataOffset + rdlength;
  }
  return { records, next: at };
}

/** Decodes a whole message; throws {@link WireFormatError} on malformed input. */
export function decodeMessage(bytes: Buffer): DecodedMessage {
  if (bytes.length < 12) throw new WireFormatError(`DNS message of ${bytes.length} bytes is shorter than its header`);
  const flags = bytes.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((at) => bytes.readUInt16BE(at)) as [number, number, number, number];
  const zones: DecodedMessage['zones'] = [];
  let at = 12;
  for (let i = 0; i < counts[0]; i++) {
    const { name, next } = decodeName(bytes, at);
    if (next + 4 > bytes.length) throw new WireFormatError('zone entry runs past the end of the message');
    zones.push({ name, type: bytes.readUInt16BE(next), class: bytes.readUInt16BE(next + 2) });
    at = next + 4;
  }
  const prerequisites = decodeRecords(bytes, at, counts[1]);
  const updates = decodeRecords(bytes, prerequisites.next, counts[2]);
  const additional = decodeRecords(bytes, updates.next, counts[3]);
  return {
    id: bytes.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    tc: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    zones,
    prerequisites: prerequisites.records,
    updates: updates.records,
    additional: additional.records,
  };
}
