/** The issuer extension point: who signs certificates for the manager. */
import type { KeyType, ManagedCertificate } from './certificate.js';
import type { RevocationReason } from './events.js';
import type { Store } from './storage/store.js';
import type { RenewalInfo } from './acme/ari.js';

export type { RenewalInfo };

/** What the manager asks an issuer for. */
export interface IssueRequest {
  /** The managed name (for events and errors). */
  name: string;
  /** Normalised domains, wildcards as `*.example.com`. */
  domains: string[];
  /** Key type of the new certificate key. */
  keyType: KeyType;
  /** Reuse this private key (PKCS#8 PEM) instead of generating one. */
  key?: string;
  /** The certificate being replaced (ACME `replaces`, ARI). */
  replacing?: ManagedCertificate;
}

/** Progress of a challenge, reported by an issuer to the manager. */
export interface IssueProgress {
  type: 'presented' | 'propagated' | 'cleaned' | 'failed';
  domain: string;
  recordName: string;
  zone: string;
  provider: string;
  error?: unknown;
}

/** Everything an issuer may use while it works. */
export interface IssueContext {
  /** The manager's store: issuers keep account keys and CA state here. */
  store: Store;
  /** Aborts the work (manager closed, caller gave up). */
  signal: AbortSignal;
  /** Reports challenge progress; the manager turns it into `challenge:*` events. */
  progress(event: IssueProgress): void;
}

/** What an issuer returns: a full chain (leaf first) and the matching private key. */
export interface IssuedCertificate {
  fullchain: string;
  key: string;
}

/**
 * An issuer signs certificates. Obligations: `issue` returns a chain whose
 * leaf covers every requested domain and matches the returned key (the
 * manager checks it anyway); `revoke` resolves once the CA has recorded the
 * revocation (an already revoked certificate counts as revoked).
 *
 * @example
 * ```ts
 * const issuer: Issuer = new AcmeIssuer({ directoryUrl, dns, termsOfServiceAgreed: true });
 * ```
 */
export interface Issuer {
  /** Identifies the CA and account (for logs, status and stored metadata). */
  readonly id: string;
  /** Default key type of new certificates. */
  readonly keyType: KeyType;
  issue(request: IssueRequest, context: IssueContext): Promise<IssuedCertificate>;
  revoke(certificate: ManagedCertificate, reason: RevocationReason, context: IssueContext): Promise<void>;
  /**
   * The CA's renewal suggestion for `certificate` (ACME ARI, RFC 9773), or
   * `undefined` when the CA offers none. Optional: issuers without it renew by lifetime ratio.
   */
  renewalInfo?(certificate: ManagedCertificate, context: IssueContext): Promise<RenewalInfo | undefined>;
}

/** RFC 5280 reason codes of the reasons public CAs accept. */
export const REVOCATION_REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  superseded: 4,
  cessationOfOperation: 5,
};
