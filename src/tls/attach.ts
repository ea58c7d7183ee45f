/**
 * Hot reload: keeps a running server's default certificate current.
 *
 * `server.setSecureContext()` swaps the context used by *new* handshakes;
 * established connections keep their own and are never dropped. Two traps
 * shape this module:
 *
 * - `setSecureContext` rebuilds the server's context from only the options it
 *   is given, so passing just `cert`/`key` would silently reset `ca`,
 *   `ciphers`, `minVersion`… to Node's defaults. We re-pass the server's
 *   current settings every time.
 * - Without `ticketKeys` it draws fresh session ticket keys, so every routine
 *   renewal would void every client's resumption ticket and force full
 *   handshakes fleet-wide. We pass the same keys each time, and draw new ones
 *   only when a rotation means old tickets should die (a revocation).
 */
import { randomBytes } from 'node:crypto';
import type tls from 'node:tls';
import type { ManagedCertificate } from '../certificate.js';
import { CertificateError, ConfigError, isCertpilotError, type CertpilotError } from '../errors.js';
import type { CertificateRotatedEvent, CertificateServedEvent } from '../events.js';
import type { ContextCache } from './context-cache.js';
import { emitWarning, keyTypeMismatch } from './sni.js';
import type { CertificateSource } from './source.js';
import { certificateOf, defaultCertificate, sniRouterOf } from './tls-options.js';
import { ServedVerifier } from './verify.js';

/**
 * Server settings that `setSecureContext` would otherwise reset (everything
 * but the certificate and ticket keys).
 *
 * @example
 * ```ts
 * attach(manager, cache, server, 'api', { contextOptions: { minVersion: 'TLSv1.3' } });
 * ```
 */
export type ServerContextOptions = Omit<
  tls.SecureContextOptions,
  'cert' | 'key' | 'pfx' | 'passphrase' | 'ticketKeys' | 'privateKeyEngine' | 'privateKeyIdentifier'
>;

/**
 * Options of {@link attach}.
 *
 * @example
 * ```ts
 * attach(manager, cache, server, 'api', { onError: (e) => log.error(e), rotateTicketKeys: () => false });
 * ```
 */
export interface AttachOptions {
  /**
   * Accept a server whose SNI certificates (from {@link tlsOptions}) use a
   * different key algorithm than the attached one. See
   * {@link TlsOptionsOptions.allowMixedKeyTypes} for why this is refused.
   * @default false
   */
  allowMixedKeyTypes?: boolean;
  /**
   * Decides, per rotation, whether to replace the session ticket keys, which
   * makes every client that holds a ticket do a full handshake. Consulted for
   * rotations of the attached name and of names the server serves through
   * the `SNICallback` of {@link tlsOptions} (tickets are server-wide).
   *
   * The default rotates on `cause === 'revoked'`: a revocation may mean the
   * key or the host was compromised, and tickets minted before then should
   * not resume. The event does not say *why* a certificate was revoked, so
   * the default errs on the safe side; the cost is one full handshake per
   * client, once. Routine causes (`renewed`, `manual`, `remote`, …) keep the
   * keys so resumption survives.
   * @default (event) => event.cause === 'revoked'
   */
  rotateTicketKeys?: (event: CertificateRotatedEvent) => boolean;
  /**
   * Session ticket keys (48 bytes) to serve with.
   * @default the server's current keys (`server.getTicketKeys()`), so tickets issued before `attach` stay valid
   */
  ticketKeys?: Buffer;
  /**
   * TLS settings to apply with every certificate, over the ones read from
   * the server (the options it was created with, which Node keeps on the
   * server object).
   * @default the server's current settings
   */
  contextOptions?: ServerContextOptions;
  /**
   * Receives failures of a rotation (the new certificate cannot be loaded, a
   * key algorithm now differs). The server keeps serving the previous
   * certificate; nothing is thrown into the emitter of the event.
   * @default `process.emitWarning(error)`
   */
  onError?: (error: CertpilotError | Error) => void;
  /**
   * After each rotation of a name this server presents (the attached one, or
   * one its {@link tlsOptions} `SNICallback` serves), check with a loopback
   * TLS handshake that the new certificate is the one served (see
   * `verify.ts`). A mismatch, or a failed handshake, goes to `onError`.
   * Only listening servers are checked.
   * @default true
   */
  verify?: boolean;
  /**
   * Receives the outcome of every check (`ok: true` ones too); the manager
   * turns them into `certificate:served` events.
   * @default none
   */
  onVerified?: (event: CertificateServedEvent) => void;
}

/**
 * Settings that `tls.Server#setSecureContext` stores on the server and
 * re-reads; copied from there so a rotation changes the certificate only.
 */
const CARRIED = [
  'ca', 'crl', 'ciphers', 'sigalgs', 'ecdhCurve', 'dhparam', 'minVersion', 'maxVersion', 'secureProtocol',
  'secureOptions', 'honorCipherOrder', 'sessionIdContext', 'sessionTimeout', 'clientCertEngine',
] as const;

function currentSettings(server: tls.Server): ServerContextOptions {
  const fields = server as unknown as Record<string, unknown>;
  const settings: Record<string, unknown> = {};
  for (const field of CARRIED) if (fields[field] !== undefined) settings[field] = fields[field];
  return settings as ServerContextOptions;
}

const rotateOnRevocation = (event: CertificateRotatedEvent): boolean => event.cause === 'revoked';

/**
 * Keeps `server` serving the active certificate of `name` (or, without a
 * name, of the source's first certificate): applies it now, then calls
 * `server.setSecureContext(...)` on every rotation of that name. Works for
 * `tls.Server`, `https.Server` and `http2` secure servers, and for several
 * servers on one source. Returns `detach`, which stops the updates (calling
 * it twice is harmless).
 *
 * Throws {@link ConfigError} `NOT_FOUND` when there is no such certificate,
 * `KEY_TYPE_MISMATCH` when the server's SNI certificates (from
 * {@link tlsOptions}) use another key algorithm, and {@link CertificateError}
 * when the certificate cannot be loaded.
 *
 * The source's listener holds the server weakly: a server that is closed
 * and dropped without `detach` is collected, and the listener goes away.
 *
 * @example
 * ```ts
 * const server = https.createServer(tlsOptions(manager, cache, 'api'), app).listen(443);
 * const detach = attach(manager, cache, server, 'api', {
 *   rotateTicketKeys: (e) => e.cause === 'revoked' || e.cause === 'manual',
 * });
 * // later: detach();
 * ```
 */
export function attach(
  source: CertificateSource,
  cache: ContextCache,
  server: tls.Server,
  name?: string,
  options: AttachOptions = {},
): () => void {
  const initial = defaultCertificate(source, name);
  const target = initial.name;
  const router = sniRouterOf(server);
  const report = options.onError ?? emitWarning;
  const shouldRotateKeys = options.rotateTicketKeys ?? rotateOnRevocation;

  /** Key algorithms must agree with SNI certificates the router does not already check against each other. */
  const mismatch = (certificate: ManagedCertificate): ConfigError | undefined => {
    if (options.allowMixedKeyTypes || !router) return undefined;
    return keyTypeMismatch([certificate, ...router.certificates.filter((c) => c.name !== target)]);
  };

  const initialMismatch = mismatch(initial);
  if (initialMismatch) throw initialMismatch;

  let ticketKeys = options.ticketKeys ?? server.getTicketKeys();
  if (ticketKeys.length !== 48) {
    throw new ConfigError('INVALID_OPTIONS', `ticketKeys must be 48 bytes, got ${ticketKeys.length}`, {
      details: { length: ticketKeys.length },
    });
  }

  const apply = (into: tls.Server, certificate: ManagedCertificate): void => {
    cache.get(certificate); // loads the PEM through our error path before touching the server
    try {
      into.setSecureContext({
        ...currentSettings(into),
        ...options.contextOptions,
        cert: certificate.fullchain,
        key: certificate.key,
        ticketKeys,
      });
    } catch (error) {
      throw new CertificateError(
        'CERTIFICATE_CHECK_FAILED',
        `Cannot apply certificate "${certificate.name}" (serial ${certificate.serialNumber}) to the server: ` +
          `${(error as Error).message}`,
        { cause: error, details: { name: certificate.name, serialNumber: certificate.serialNumber } },
      );
    }
  };

  apply(server, initial);

  const verifier = options.verify === false
    ? undefined
    : new ServedVerifier({ source, onError: report, ...(options.onVerified ? { onResult: options.onVerified } : {}) });
  const served = () => router?.certificates;

  const ref = new WeakRef(server);
  const listener = (event: CertificateRotatedEvent): void => {
    const live = ref.deref();
    if (!live) {
      source.off('certificate:rotated', listener);
      return;
    }
    try {
      const ours = event.name === target;
      const routed = router?.serves(event.name) === true;
      const rotateKeys = (ours || routed) && shouldRotateKeys(event);
      if (!ours && routed) verifier?.schedule(live, event.name, { served });
      if (!ours && !rotateKeys) return;
      const certificate = certificateOf(source, target);
      // Applied even when the key algorithm now differs: the name's own
      // certificate must be served; the mismatch only affects SNI neighbours.
      const problem = ours && !router?.serves(target) ? mismatch(certificate) : undefined;
      if (rotateKeys) {
        // Set at once, so old tickets die even if the new certificate then fails to load.
        ticketKeys = randomBytes(48);
        live.setTicketKeys(ticketKeys);
      }
      apply(live, certificate);
      if (problem) report(problem);
      if (ours) verifier?.schedule(live, target, { checkDefault: true, served });
    } catch (error) {
      report(
        isCertpilotError(error)
          ? error
          : new CertificateError('CERTIFICATE_CHECK_FAILED', `Rotation of "${target}" failed: ${(error as Error).message}`, {
              cause: error,
              details: { name: target },
            }),
      );
    }
  };
  source.on('certificate:rotated', listener);

  let attached = true;
  return () => {
    if (!attached) return;
    attached = false;
    source.off('certificate:rotated', listener);
  };
}
