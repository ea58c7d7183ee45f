/**
 * The few DER details of CRL checking that @peculiar/x509 has no class for:
 * a cheap "does this certificate name a CRL at all" test that avoids a full
 * parse for the many certificates without one, and the fields of the
 * issuingDistributionPoint extension (RFC 5280 §5.2.5) that decide whether a
 * CRL covers a certificate.
 */

/** DER of the OID 2.5.29.31 (cRLDistributionPoints), tag and length included. */
const CDP_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x1f]);

/** The DER bytes of the first certificate in `pem` (empty when it holds none). */
export function pemBody(pem: string, label = 'CERTIFICATE'): Buffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  return match ? Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64') : Buffer.alloc(0);
}

/**
 * Whether the certificate DER may carry a cRLDistributionPoints extension. A
 * byte search can give a false positive (then the full parse says no) but
 * never a false negative, so fleets without CRLs pay almost nothing.
 */
export function mayHaveDistributionPoint(certDer: Buffer): boolean {
  return certDer.indexOf(CDP_OID) !== -1;
}

/** A CRL body as DER: servers send DER (RFC 5280 §4.2.1.13) but some send PEM. */
export function crlDer(body: Buffer): Buffer {
  const head = body.subarray(0, 64).toString('latin1');
  if (!head.includes('-----BEGIN')) return body;
  const text = body.toString('latin1');
  const der = pemBody(text, 'X509 CRL');
  return der.length > 0 ? der : pemBody(text, 'CRL');
}

interface Tlv { tag: number; start: number; end: number }

/** The TLVs directly inside `bytes[from, to)`; throws on a truncated or malformed encoding. */
function children(bytes: Uint8Array, from: number, to: number): Tlv[] {
  const out: Tlv[] = [];
  let i = from;
  while (i < to) {
    const tag = bytes[i++]!;
    if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte tags are not used in CRL extensions');
    let length = bytes[i++];
    if (length === undefined) throw new Error('truncated DER');
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4) throw new Error('unsupported DER length');
      length = 0;
      for (let k = 0; k < count; k++) length = length * 256 + bytes[i++]!;
    }
    if (i + length > to) throw new Error('truncated DER');
    out.push({ tag, start: i, end: i + length });
    i += length;
  }
  return out;
}

/** What an issuingDistributionPoint extension says about the CRL's scope. */
export interface IssuingDistributionPoint {
  /** URIs of the distribution point (`fullName`); empty when it names none. */
  uris: string[];
  /** The CRL lists CA certificates only (or attribute certificates only): it says nothing about leaves. */
  notForLeaves: boolean;
  /** The CRL lists only some revocation reasons: a serial missing from it may still be revoked. */
  someReasons: boolean;
  /** An indirect CRL (entries of several issuers): not supported, its entries need the certificateIssuer extension. */
  indirect: boolean;
}

/** Parses the value (the OCTET STRING contents) of an issuingDistributionPoint extension. */
export function parseIssuingDistributionPoint(value: ArrayBuffer | Uint8Array): IssuingDistributionPoint {
  const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
  const [seq] = children(bytes, 0, bytes.length);
  if (!seq || seq.tag !== 0x30) throw new Error('issuingDistributionPoint is not a SEQUENCE');
  const result: IssuingDistributionPoint = { uris: [], notForLeaves: false, someReasons: false, indirect: false };
  const isTrue = (t: Tlv) => t.end > t.start && bytes[t.start] !== 0;
  for (const field of children(bytes, seq.start, seq.end)) {
    switch (field.tag) {
      case 0xa0: // [0] DistributionPointName (a CHOICE, so explicitly tagged): [0] fullName GeneralNames
        for (const name of children(bytes, field.start, field.end)) {
          if (name.tag !== 0xa0) continue; // [1] nameRelativeToCRLIssuer: no URI to compare
          for (const general of children(bytes, name.start, name.end)) {
            // [6] uniformResourceIdentifier IA5String (implicit)
            if (general.tag === 0x86) result.uris.push(Buffer.from(bytes.subarray(general.start, general.end)).toString('latin1'));
          }
        }
        break;
      case 0x82: // [2] onlyContainsCACerts
      case 0x85: // [5] onlyContainsAttributeCerts
        if (isTrue(field)) result.notForLeaves = true;
        break;
      case 0x83: // [3] onlySomeReasons
        result.someReasons = true;
        break;
      case 0x84: // [4] indirectCRL
        if (isTrue(field)) result.indirect = true;
        break;
      default:
        break;
    }
  }
  return result;
}

/** Serial numbers compared the way the library spells them: lower-case hex without leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/[:\s]/g, '').toLowerCase().replace(/^0+(?=.)/, '');
}
