/**
 * SNI lookup and the key-type rule for certificates that share a server.
 *
 * The index is plain data built from a list of certificates, so lookups on
 * the handshake path are two `Map` reads and never walk the certificate list.
 */
import type { KeyType, ManagedCertificate } from '../certificate.js';
import { ConfigError } from '../errors.js';

/**
 * Normalizes a host name for comparison: lower case (DNS is case-insensitive,
 * and clients do send mixed case) and without the trailing dot of an FQDN
 * (`example.com.` names the same host).
 *
 * @example
 * ```ts
 * normalizeHostname('API.Example.COM.') // 'api.example.com'
 * ```
 */
export function normalizeHostname(hostname: string): string {
  const lower = hostname.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * Which certificates answer which server names.
 *
 * Matching follows RFC 6125: an exact name wins over a wildcard, and
 * `*.example.com` covers exactly one label — `a.example.com`, not
 * `a.b.example.com` and not `example.com`. When two certificates claim the
 * same name, the one listed first wins (callers list the default first), so
 * the answer never depends on the order a store happens to return.
 *
 * @example
 * ```ts
 * const index = new SniIndex(source.list());
 * index.lookup('a.example.com')?.name; // the certificate holding *.example.com
 * ```
 */
export class SniIndex {
  readonly #exact = new Map<string, ManagedCertificate>();
  /** Keyed by the parent of the wildcard: `*.example.com` is stored under `example.com`. */
  readonly #wildcard = new Map<string, ManagedCertificate>();
  readonly #names = new Set<string>();
  /** Every certificate in the index, in the order given. */
  readonly certificates: readonly ManagedCertificate[];

  constructor(certificates: readonly ManagedCertificate[]) {
    this.certificates = [...certificates];
    for (const certificate of certificates) {
      this.#names.add(certificate.name);
      for (const domain of certificate.domains) {
        const host = normalizeHostname(domain);
        const [map, key] = host.startsWith('*.') ? [this.#wildcard, host.slice(2)] : [this.#exact, host];
        if (!map.has(key)) map.set(key, certificate);
      }
    }
  }

  /** The certificate for a client's server name, or `undefined` when none covers it. */
  lookup(servername: string): ManagedCertificate | undefined {
    const host = normalizeHostname(servername);
    const exact = this.#exact.get(host);
    if (exact) return exact;
    const dot = host.indexOf('.');
    // No dot: a single label ("localhost") cannot match any wildcard.
    return dot > 0 ? this.#wildcard.get(host.slice(dot + 1)) : undefined;
  }

  /** Whether the certificate with this managed name is in the index. */
  serves(name: string): boolean {
    return this.#names.has(name);
  }
}

/**
 * The key algorithm behind a {@link KeyType}: what decides which OpenSSL
 * certificate slot a key occupies (one for EC keys, one for RSA keys).
 * Sizes and curves within one algorithm share a slot and mix safely.
 *
 * @example
 * ```ts
 * keyAlgorithm('ecdsa-p384') // 'ecdsa'
 * ```
 */
export function keyAlgorithm(keyType: KeyType): 'ecdsa' | 'rsa' {
  return keyType.startsWith('rsa-') ? 'rsa' : 'ecdsa';
}

/**
 * The first certificate whose key algorithm differs from the first
 * certificate's, as a {@link ConfigError} `KEY_TYPE_MISMATCH`; `undefined`
 * when all agree.
 *
 * Why it matters: Node installs an SNI context's certificate next to the
 * default one instead of replacing it (nodejs/node#54235). With an RSA default
 * and an ECDSA SNI certificate, OpenSSL then holds one certificate per slot
 * and picks by the client's signature algorithms, so a client asking for the
 * SNI name can get the default certificate — and fail name verification.
 * Only the algorithm matters: ecdsa-p256 next to ecdsa-p384, or rsa-2048 next
 * to rsa-4096, replace each other cleanly.
 *
 * @example
 * ```ts
 * const error = keyTypeMismatch([defaultCert, ...others]);
 * if (error) throw error;
 * ```
 */
export function keyTypeMismatch(certificates: readonly ManagedCertificate[]): ConfigError | undefined {
  const [first, ...rest] = certificates;
  if (!first) return undefined;
  const other = rest.find((c) => keyAlgorithm(c.keyType) !== keyAlgorithm(first.keyType));
  if (!other) return undefined;
  return new ConfigError(
    'KEY_TYPE_MISMATCH',
    `Certificates served by one server must share a key algorithm: "${first.name}" is ${first.keyType} but ` +
      `"${other.name}" is ${other.keyType}. Node would serve the default certificate instead of the SNI one for some ` +
      `clients (nodejs/node#54235). Use one key algorithm, serve them from separate servers, limit the server with ` +
      `\`names\`, or pass \`allowMixedKeyTypes: true\` if you accept that.`,
    { details: { names: [first.name, other.name], keyTypes: [first.keyType, other.keyType] } },
  );
}

/**
 * @internal The default sink for problems found after a call has returned
 * (during a rotation), when no `onError` was given. A Node process warning
 * is visible (printed to stderr, observable through `process.on('warning')`)
 * without crashing a server over a certificate that is still being served.
 *
 * @example
 * ```ts
 * (options.onError ?? emitWarning)(error);
 * ```
 */
export function emitWarning(error: Error): void {
  process.emitWarning(error);
}
