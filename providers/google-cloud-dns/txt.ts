/**
 * TXT rrdata in Cloud DNS is zone-file presentation format (RFC 1035 §5.1):
 * one or more character-strings, each usually quoted, with `\"`, `\\` and
 * `\DDD` escapes. The API neither adds nor strips the quotes, so the provider
 * quotes what it writes and unquotes what it reads; a value left unquoted
 * would be split at spaces by the name server.
 */

/** A character-string carries at most 255 bytes (RFC 1035 §3.3). */
const MAX_STRING_BYTES = 255;

/**
 * The rrdata for one TXT value: quoted, escaped, and split into
 * character-strings of at most 255 bytes (never inside a UTF-8 sequence).
 *
 * @example
 * ```ts
 * quoteTxt('say "hi"'); // '"say \\"hi\\""'
 * ```
 */
export function quoteTxt(value: string): string {
  const strings: string[] = [];
  let current = '';
  let bytes = 0;
  for (const char of value) {
    const size = Buffer.byteLength(char);
    if (bytes + size > MAX_STRING_BYTES) {
      strings.push(current);
      current = '';
      bytes = 0;
    }
    current += escapeChar(char);
    bytes += size;
  }
  strings.push(current);
  return strings.map((s) => `"${s}"`).join(' ');
}

function escapeChar(char: string): string {
  if (char === '"' || char === '\\') return `\\${char}`;
  const code = char.codePointAt(0)!;
  // Control characters are not printable in a zone file: use the decimal escape.
  if (code < 0x20 || code === 0x7f) return `\\${code.toString().padStart(3, '0')}`;
  return char;
}

/**
 * The value of one TXT rrdata: the character-strings concatenated (as DNS
 * clients and ACME servers read them), escapes resolved. Unquoted
 * character-strings, as other tools may have written, are accepted too.
 *
 * @example
 * ```ts
 * unquoteTxt('"abc" "def"'); // 'abcdef'
 * ```
 */
export function unquoteTxt(rrdata: string): string {
  const bytes: number[] = [];
  let i = 0;
  while (i < rrdata.length) {
    const char = rrdata[i]!;
    if (char === ' ' || char === '\t') { i++; continue; }
    const quoted = char === '"';
    if (quoted) i++;
    while (i < rrdata.length) {
      const c = rrdata[i]!;
      if (quoted ? c === '"' : c === ' ' || c === '\t') break;
      if (c === '\\' && i + 1 < rrdata.length) {
        const digits = rrdata.slice(i + 1, i + 4);
        if (/^\d{3}$/.test(digits)) {
          bytes.push(Number(digits) & 0xff);
          i += 4;
        } else {
          const next = String.fromCodePoint(rrdata.codePointAt(i + 1)!);
          bytes.push(...Buffer.from(next));
          i += 1 + next.length;
        }
        continue;
      }
      const next = String.fromCodePoint(rrdata.codePointAt(i)!);
      bytes.push(...Buffer.from(next));
      i += next.length;
    }
    if (quoted) i++; // the closing quote
  }
  return Buffer.from(bytes).toString('utf8');
}
