/**
 * TXT `content` as the Cloudflare API wants it. Cloudflare's record schema
 * says TXT content "must consist of quoted character strings (RFC 1035),
 * each up to 255 bytes; longer strings are split automatically", and its
 * dashboard flags unquoted content. The DNS answer carries the strings
 * without quotes, so the value a resolver (and the ACME CA) sees is exactly
 * the challenge value either way; we write the quoted form and read both.
 */

/** `abc` → `"abc"`, escaping `"` and `\` (ACME values, base64url, never need it). */
export function quoteTxt(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The value DNS serves for a record's `content`: the concatenated character
 * strings of quoted content (`"a" "b"` → `ab`, with `\"`, `\\` and `\DDD`
 * escapes), or the text itself when it is not quoted (records written by
 * tools that predate the quoting rule).
 */
export function unquoteTxt(content: string): string {
  const text = content.trim();
  if (!text.startsWith('"')) return content;
  let out = '';
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    if (text[i] !== '"') return content; // not a well-formed list of strings: Cloudflare would serve it as written
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) return content; // unterminated string
      i++;
      if (c === '"') break;
      if (c !== '\\') { out += c; continue; }
      const digits = /^\d{3}/.exec(text.slice(i));
      if (digits) {
        out += String.fromCharCode(Number(digits[0]));
        i += 3;
      } else if (text[i] !== undefined) {
        out += text[i];
        i++;
      }
    }
  }
  return out;
}
