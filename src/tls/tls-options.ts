/**
 * Secure contexts and server options backed by a {@link CertificateSource}.
 *
 * `tlsOptions` returns ordinary `tls.createServer` options whose
 * `SNICallback` serves every managed certificate. The routing table behind it
 * is rebuilt when a certificate rotates, never per handshake, and contexts
 * come from a shared {@link ContextCache}, so a handshake costs two map reads.
 * Node's own `server.addContext` is not used: its entries can never be
 * removed, so a renamed or replaced certificate would linger forever.
 */
import { randomBytes } from 'node:crypto';
import type tls from 'node:tls';
import type { ManagedCertificate } from '../certificate.js';
import { ConfigError, type CertpilotError } from '../errors.js';
import type { CertificateRotatedEvent } from '../events.js';
import type { ContextCache } from './context-cache.js';
import { emitWarning, keyTypeMismatch, SniIndex } from './sni.js';
import type { CertificateSource } from './source.js';

/**
 * The `SNICallback` signature of `tls.createServer`.
 *
 * @example
 * ```ts
 * const { SNICallback } = tlsOptions(manager, cache);
 * SNICallback('api.example.com', (error, context) => { ... });
 * ```
 */
export type SniCallback = (servername: string, callback: (error: Error | null, context?: tls.SecureContext) => void) => void;

/**
 * Options of {@link tlsOptions}.
 *
 * @example
 * ```ts
 * tlsOptions(manager, cache, 'api', { names: ['api', 'admin'], onError: (e) => log.warn(e) });
 * ```
 */
export interface TlsOptionsOptions {
  /**
   * Serve certificates with different key algorithms (ECDSA next to RSA) from
   * one server anyway. Off by default because Node then serves the default
   * certificate to some clients asking for an SNI name (nodejs/node#54235):
   * a refused configuration at startup beats name errors at clients.
   * @default false
   */
  allowMixedKeyTypes?: boolean;
  /**
   * Managed names the `SNICallback` serves, besides the default one. Use it
   * to keep an RSA certificate for legacy clients on its own server while
   * another server serves the ECDSA ones.
   * @default every certificate of the source, including ones added later
   */
  names?: readonly string[];
  /**
   * Receives problems found during a later rotation (a certificate with a
   * different key algorithm arrived). The certificate is still served; the
   * hook only reports.
   * @default `process.emitWarning(error)`
   */
  onError?: (error: CertpilotError | Error) => void;
}

/**
 * What {@link tlsOptions} returns: spread it into `tls`, `https` or `http2` server options.
 *
 * @example
 * ```ts
 * const options: TlsServerOptions = tlsOptions(manager, cache, 'api');
 * http2.createSecureServer({ ...options, allowHTTP1: true }, app);
 * ```
 */
export type TlsServerOptions = tls.SecureContextOptions & {
  /** Full chain (leaf + intermediates) of the default certificate, PEM. */
  cert: string;
  /** Private key of the default certificate, PKCS#8 PEM. */
  key: string;
  /** Session ticket keys (48 random bytes) for this server; `attach` keeps using them across rotations. */
  ticketKeys: Buffer;
  /** Serves every managed certificate by server name. */
  SNICallback: SniCallback;
};

/** The routers behind callbacks `tlsOptions` produced, so `attach` can see what a server serves via SNI. */
const routers = new WeakMap<SniCallback, SniRouter>();

/**
 * @internal Routes server names to contexts. The index is replaced wholesale
 * on rotation and only read on handshakes, so a handshake never sees a
 * half-built table.
 *
 * @example
 * ```ts
 * const router = new SniRouter(source, cache, 'api', {});
 * router.select('a.example.com'); // tls.SecureContext
 * ```
 */
export class SniRouter {
  #index: SniIndex;
  #default: ManagedCertificate;

  constructor(
    private readonly source: CertificateSource,
    private readonly cache: ContextCache,
    readonly defaultName: string,
    private readonly options: TlsOptionsOptions,
  ) {
    this.#default = certificateOf(source, defaultName);
    this.#index = this.#build();
    const mismatch = options.allowMixedKeyTypes ? undefined : keyTypeMismatch(this.#index.certificates);
    if (mismatch) throw mismatch;
  }

  /** Every certificate this router can serve, the default first. */
  get certificates(): readonly ManagedCertificate[] {
    return this.#index.certificates;
  }

  /** Whether the certificate with this managed name is served (by name or as the default). */
  serves(name: string): boolean {
    return this.#index.serves(name);
  }

  /** The context for a client's server name: exact match, then wildcard, then the default. */
  select(servername: string): tls.SecureContext {
    return this.cache.get(this.#index.lookup(servername) ?? this.#default);
  }

  /** Applies a rotation: rebuilds the index when the rotated name is one this router serves. */
  onRotated(event: CertificateRotatedEvent): void {
    const { names } = this.options;
    if (event.name !== this.defaultName && names && !names.includes(event.name)) return;
    const report = this.options.onError ?? emitWarning;
    try {
      this.#default = this.source.get(this.defaultName) ?? this.#default;
      this.#index = this.#build();
    } catch (error) {
      report(error as Error); // keep routing with the previous index
      return;
    }
    // Still served: refusing now would drop a name that clients already use.
    const mismatch = this.options.allowMixedKeyTypes ? undefined : keyTypeMismatch(this.#index.certificates);
    if (mismatch) report(mismatch);
  }

  #build(): SniIndex {
    const { names } = this.options;
    const others = this.source
      .list()
      .filter((c) => c.name !== this.defaultName && (!names || names.includes(c.name)));
    // The default goes first so that it wins when two certificates claim one name.
    return new SniIndex([this.#default, ...others]);
  }
}

/**
 * @internal The router behind a server's `SNICallback`, when that callback
 * came from {@link tlsOptions}; `undefined` for any other server.
 *
 * @example
 * ```ts
 * sniRouterOf(server)?.certificates.map((c) => c.name);
 * ```
 */
export function sniRouterOf(server: tls.Server): SniRouter | undefined {
  // Node keeps the callback under a private symbol; reading it lets `attach`
  // check key types against what the server really serves. If Node renames
  // it, the lookup finds nothing and attach checks only its own certificate.
  const symbol = Object.getOwnPropertySymbols(server).find((s) => s.description === 'snicallback');
  const callback = symbol ? (server as unknown as Record<symbol, unknown>)[symbol] : undefined;
  return typeof callback === 'function' ? routers.get(callback as SniCallback) : undefined;
}

/**
 * @internal The active certificate of `name`, or a {@link ConfigError} `NOT_FOUND` naming it.
 *
 * @example
 * ```ts
 * const { fullchain, key } = certificateOf(source, 'api');
 * ```
 */
export function certificateOf(source: CertificateSource, name: string): ManagedCertificate {
  const certificate = source.get(name);
  if (!certificate) {
    throw new ConfigError('NOT_FOUND', `No certificate named "${name}" is active; provision it (or wait until it is loaded) first`, {
      details: { name },
    });
  }
  return certificate;
}

/**
 * @internal The certificate served by default: `name`'s, or the first of the
 * source (in `list()` order) when no name is given.
 *
 * @example
 * ```ts
 * defaultCertificate(source).name; // the first managed certificate
 * ```
 */
export function defaultCertificate(source: CertificateSource, name?: string): ManagedCertificate {
  if (name !== undefined) return certificateOf(source, name);
  const [first] = source.list();
  if (!first) throw new ConfigError('NOT_FOUND', 'No certificate is active yet; provision one before serving TLS', { details: {} });
  return first;
}

/**
 * The secure context of the active certificate of `name` (cached per
 * certificate version). Throws {@link ConfigError} `NOT_FOUND` naming `name`
 * when the source holds no such certificate.
 *
 * @example
 * ```ts
 * const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: secureContext(manager, cache, 'api') });
 * ```
 */
export function secureContext(source: CertificateSource, cache: ContextCache, name: string): tls.SecureContext {
  return cache.get(certificateOf(source, name));
}

/**
 * Server options serving `name` (or, without a name, the first certificate
 * of the source) by default and every managed certificate by SNI: an exact
 * name first, then a wildcard covering one label, case-insensitive, trailing
 * dot ignored; an unknown or absent server name gets the default.
 *
 * The `SNICallback` follows rotations by itself. The `cert`/`key` defaults
 * (what clients that send no server name get) are fixed once the server is
 * built: {@link attach} the server to keep those current too.
 *
 * Throws {@link ConfigError} `NOT_FOUND` when the default certificate is
 * missing and `KEY_TYPE_MISMATCH` when the served certificates mix ECDSA and
 * RSA keys (see {@link TlsOptionsOptions.allowMixedKeyTypes}).
 *
 * The routing listener holds its router weakly: a server that is closed and
 * dropped does not leave a listener behind on the source.
 *
 * @example
 * ```ts
 * const server = https.createServer({ ...tlsOptions(manager, cache, 'api'), requestTimeout: 10_000 }, app);
 * const detach = attach(manager, cache, server, 'api');
 * ```
 */
export function tlsOptions(
  source: CertificateSource,
  cache: ContextCache,
  name?: string,
  options: TlsOptionsOptions = {},
): TlsServerOptions {
  const fallback = defaultCertificate(source, name);
  const router = new SniRouter(source, cache, fallback.name, options);
  cache.get(fallback); // fail here, not in the first handshake, when the PEM is unusable

  const ref = new WeakRef(router);
  const listener = (event: CertificateRotatedEvent): void => {
    const live = ref.deref();
    if (live) live.onRotated(event);
    else source.off('certificate:rotated', listener);
  };
  source.on('certificate:rotated', listener);

  const SNICallback: SniCallback = (servername, callback) => {
    let context: tls.SecureContext;
    try {
      context = router.select(servername);
    } catch (error) {
      callback(error as Error); // Node ends the handshake and emits 'tlsClientError'
      return;
    }
    callback(null, context);
  };
  routers.set(SNICallback, router);
  return { cert: fallback.fullchain, key: fallback.key, ticketKeys: randomBytes(48), SNICallback };
}
