/**
 * The text formats Route 53 uses on the wire for TXT values and record names.
 *
 * A TXT `ResourceRecord.Value` is one or more quoted character-strings
 * (`"abc" "def"`, each at most 255 bytes) in which `"` and `\` are escaped
 * with a backslash and any other byte outside printable ASCII is written as
 * a three-digit *octal* escape (`\303\251`). Record names come back
 * lower-cased, absolute, and with the same octal escapes (`\052` for `*`).
 * We compare decoded values, never raw strings, because Route 53 may return
 * a value in another (equivalent) spelling than the one we sent.
 */

/** Longest DNS character-string (RFC 1035 §3.3): one length byte. */
const MAX_CHUNK_BYTES = 255;

/** Encodes `value` as Route 53 expects a TXT value: quoted, escaped, split every 255 bytes. */
export function encodeTxtValue(value: string): string {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length === 0) return '""';
  const chunks: string[] = [];
  for (let start = 0; start < bytes.length; start += MAX_CHUNK_BYTES) {
    let chunk = '';
    for (const byte of bytes.subarray(start, start + MAX_CHUNK_BYTES)) chunk += escapeByte(byte);
    chunks.push(`"${chunk}"`);
  }
  return chunks.join(' ');
}

function escapeByte(byte: number): string {
  if (byte === 0x22 || byte === 0x5c) return `\\${String.fromCharCode(byte)}`;
  if (byte >= 0x20 && byte <= 0x7e) return String.fromCharCode(byte);
  return `\\${byte.toString(8).padStart(3, '0')}`;
}

/**
 * Decodes a TXT value as Route 53 returns it into the text a resolver
 * would see (the character-strings joined). Unquoted input (values written
 * by other tools without quotes) is read as whitespace-separated strings.
 */
export function decodeTxtValue(raw: string): string {
  const encoder = new TextEncoder();
  const bytes: number[] = [];
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === ' ' || c === '\t') { i++; continue; }
    const quoted = c === '"';
    if (quoted) i++;
    while (i < raw.length) {
      const ch = raw[i]!;
      if (quoted ? ch === '"' : ch === ' ' || ch === '\t') break;
      if (ch === '\\' && i + 1 < raw.length) {
        const octal = /^[0-7]{3}/.exec(raw.slice(i + 1, i + 4));
        if (octal) { bytes.push(parseInt(octal[0], 8)); i += 4; continue; }
        i++;
      }
      const char = String.fromCodePoint(raw.codePointAt(i)!);
      for (const b of encoder.encode(char)) bytes.push(b);
      i += char.length;
    }
    if (quoted) i++; // closing quote
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** A record name as Route 53 returns it (`\052.example.com.`) in the form we compare: `*.example.com.`. */
export function decodeRecordName(raw: string): string {
  const decoded = raw.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  const lower = decoded.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}
