/** {@link LocalIssuer}: the library's own CA, for development and private networks. */
import type { KeyType, ManagedCertificate } from '../certificate.js';
import { normalizeDomains } from '../domains.js';
import { CertificateError, ConfigError, throwIfAborted } from '../errors.js';
import type { RevocationReason } from '../events.js';
import { REVOCATION_REASON_CODES, type IssueContext, type IssueRequest, type IssuedCertificate, type Issuer } from '../issuer.js';
import type { Store } from '../storage/store.js';
import { generatePrivateKey, keyTypeOf, normalizePrivateKey } from '../x509/keys.js';
import { parseX509, serialOf } from '../x509/parse.js';
import { joinPem } from '../x509/pem.js';
import { caPaths, ensureCa, listIntermediates } from './ca.js';
import { currentCrl, recordRevocation, type LocalCrl } from './crl.js';
import { signLeaf } from './leaf.js';
import { resolveOptions, type LocalIssuerOptions, type ResolvedLocalOptions } from './options.js';

export type { LocalIssuerOptions } from './options.js';
export type { LocalCrl, LocalRevocation } from './crl.js';

/** Accepts the store itself or anything that carries one (an `IssueContext`), so hosts pass what they have. */
function unpack(source: Store | { store: Store; signal?: AbortSignal }): { store: Store; signal?: AbortSignal } {
  if (source && typeof source === 'object' && 'store' in source && source.store) return source;
  const store = source as Partial<Store>;
  if (!store || typeof store.get !== 'function' || typeof store.lock !== 'function') {
    throw new ConfigError('INVALID_OPTIONS', 'Pass the store the issuer uses (the one given to CertificateManager), or an object with a `store`');
  }
  return { store: source as Store };
}

/**
 * Issues certificates from a CA of its own, kept in the manager's store: no
 * ACME server, no DNS, no network. For development, tests, CI and private
 * networks whose clients can be told to trust one root.
 *
 * The root and an intermediate are created on first use under a store lock,
 * so every instance sharing the store uses the same CA. Leaves carry the
 * requested domains as DNS names, the serverAuth extended key usage, a
 * random 126-bit serial and a short lifetime; the chain returned is leaf +
 * intermediate (clients trust the root, from {@link LocalIssuer.rootCertificate}).
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * const issuer = new LocalIssuer({ name: 'acme dev CA', leafLifetimeMs: 24 * 3600_000 });
 * const manager = new CertificateManager({ store, issuer });
 * await manager.provision({ name: 'api', domains: ['api.dev.test', '*.api.dev.test'] });
 * https.createServer(manager.tlsOptions('api'), app).listen(8443);
 * const rootPem = await issuer.rootCertificate(store); // give this to clients as their `ca`
 * ```
 */
export class LocalIssuer implements Issuer {
  /** `local:<slug of name>`. */
  readonly id: string;
  /** Key type of leaf keys when a request names none (and of the CA keys it creates). */
  readonly keyType: KeyType;
  /** The CA name (prefix of the root's and intermediate's common names). */
  readonly name: string;
  private readonly options: ResolvedLocalOptions;

  /** @throws {ConfigError} `INVALID_OPTIONS` or `INVALID_KEY_TYPE` for unusable options. */
  constructor(options: LocalIssuerOptions = {}) {
    this.options = resolveOptions(options);
    this.id = `local:${this.options.slug}`;
    this.keyType = this.options.keyType;
    this.name = this.options.name;
  }

  /** Signs a leaf for `request.domains` with `request.key` (or a new key of `request.keyType`). */
  async issue(request: IssueRequest, context: IssueContext): Promise<IssuedCertificate> {
    throwIfAborted(context.signal, `local issuance for "${request.name}"`);
    let key: string;
    let keyType: KeyType;
    if (request.key !== undefined) {
      const normalized = normalizePrivateKey(request.key);
      const type = keyTypeOf(normalized.key);
      if (!type) throw new ConfigError('INVALID_KEY_TYPE', `The key given for "${request.name}" has an unsupported type: use ECDSA P-256/P-384 or RSA 2048/3072/4096`);
      key = normalized.pem;
      keyType = type;
    } else {
      keyType = request.keyType;
      key = await generatePrivateKey(keyType);
    }
    // The manager passes normalised domains; a direct caller gets the same typed errors it would.
    const domains = normalizeDomains(request.domains);
    const ca = await ensureCa(context.store, this.options, context.signal);
    throwIfAborted(context.signal, `local issuance for "${request.name}"`);
    const leaf = await signLeaf(ca, { domains, keyPem: key, keyType, lifetimeMs: this.options.leafLifetimeMs, crlUrl: this.options.crlUrl });
    return { fullchain: joinPem([leaf, ca.intermediate.pem]), key };
  }

  /**
   * Records the revocation in the store and re-publishes the CRL. Revoking a
   * certificate twice is not an error (the first reason stays).
   * @throws {CertificateError} `CERTIFICATE_CHECK_FAILED` when this CA did not issue `certificate`.
   */
  async revoke(certificate: ManagedCertificate, reason: RevocationReason, context: IssueContext): Promise<void> {
    if (!Object.hasOwn(REVOCATION_REASON_CODES, reason)) {
      throw new ConfigError('INVALID_REVOCATION_REASON', `Revocation reason ${JSON.stringify(reason)} is not supported: use one of ${Object.keys(REVOCATION_REASON_CODES).join(', ')}`);
    }
    const leaf = parseX509(certificate.cert, `certificate of "${certificate.name}"`);
    const serialNumber = serialOf(leaf);
    // Any intermediate this CA ever had: the leaf may predate the current one.
    const intermediates = await listIntermediates(context.store, caPaths(this.options.slug));
    const issuedHere = intermediates.some((i) => {
      const parent = parseX509(i.pem, 'local CA intermediate');
      return leaf.checkIssued(parent) && leaf.verify(parent.publicKey);
    });
    if (!issuedHere) {
      throw new CertificateError('CERTIFICATE_CHECK_FAILED', `Certificate ${serialNumber} of "${certificate.name}" was not issued by local CA "${this.name}", so it cannot revoke it`, { details: { name: certificate.name, serialNumber } });
    }
    const ca = await ensureCa(context.store, this.options, context.signal);
    await recordRevocation(context.store, this.options, ca, { serialNumber, reason, revokedAt: new Date(), notAfter: new Date(leaf.validTo) }, context.signal);
  }

  /**
   * The current CRLs: the intermediate's (`der`, `pem`: revoked leaves with
   * reason codes) and the root's (`rootDer`, `rootPem`: empty). The stored
   * ones while less than half of `crlLifetimeMs` has passed, else newly signed
   * ones. Creates the CA when it does not exist yet. Serve `der` at `crlUrl`
   * as `application/pkix-crl`; give clients that check CRLs themselves both PEMs.
   *
   * @param source The store the issuer uses (or an `IssueContext`).
   */
  async crl(source: Store | { store: Store; signal?: AbortSignal }): Promise<LocalCrl> {
    const { store, signal } = unpack(source);
    const ca = await ensureCa(store, this.options, signal);
    return currentCrl(store, this.options, ca, signal);
  }

  /**
   * The root certificate (PEM) for clients to trust, e.g. as Node's `ca`
   * option or in a system trust store. Creates the CA when it does not exist
   * yet, so clients can be set up before the first certificate is issued.
   *
   * @param source The store the issuer uses (or an `IssueContext`).
   */
  async rootCertificate(source: Store | { store: Store; signal?: AbortSignal }): Promise<string> {
    const { store, signal } = unpack(source);
    return (await ensureCa(store, this.options, signal)).root.pem;
  }
}
