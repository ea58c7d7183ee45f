/**
 * Typed events of {@link CertificateManager}. Every payload is one object and
 * carries no key material.
 */
import type { CertificateInfo } from './certificate.js';
import type { CertpilotError } from './errors.js';

/** Why the active certificate of a name changed. */
export type RotationCause =
  /** First certificate issued for the name. */
  | 'issued'
  /** Renewal by the control loop. */
  | 'renewed'
  /** `rotate()` was called. */
  | 'manual'
  /** Replacement for a revoked (or to-be-revoked) certificate. */
  | 'revoked'
  /** The domain set changed. */
  | 'domains-changed'
  /** The manager loaded an existing certificate from the store. */
  | 'loaded'
  /** Another instance sharing the store changed it. */
  | 'remote';

/** Payload of `certificate:issued`: the CA issued and the store holds it. */
export interface CertificateIssuedEvent { name: string; certificate: CertificateInfo; durationMs: number }
/** Payload of `certificate:rotated`: the active certificate of `name` changed. */
export interface CertificateRotatedEvent {
  name: string;
  current: CertificateInfo;
  /** Absent when the manager first holds a certificate for the name. */
  previous?: CertificateInfo;
  cause: RotationCause;
}
/**
 * Payload of `certificate:served`: what a loopback TLS handshake against an
 * attached server saw after a rotation (one event per server and name).
 */
export interface CertificateServedEvent {
  name: string;
  /** Serial of the active certificate, the one the server should present. */
  serialNumber: string;
  /** Whether the server presented it (to a client sending one of its names and, for the attached name, to one sending none). */
  ok: boolean;
  /** Where the server was reached: `127.0.0.1:8443`, `[::1]:8443` or a socket path. */
  address: string;
  /** Serial the server presented; absent when no handshake completed. */
  servedSerialNumber?: string;
}
/** Payload of `certificate:revoked`. */
export interface CertificateRevokedEvent { name: string; serialNumber: string; reason: RevocationReason; replacement: CertificateInfo }
/** Payload of `certificate:expiring`: renewal keeps failing and expiry is near. */
export interface CertificateExpiringEvent { name: string; certificate: CertificateInfo; expiresInMs: number }
/** Payload of `certificate:failed`: an issuance, renewal or revocation failed. */
export interface CertificateFailedEvent {
  name: string;
  error: CertpilotError;
  /** 1 for the first consecutive failure. */
  attempt: number;
  /** When the control loop will try again (absent when nothing will retry by itself). */
  nextAttemptAt?: Date;
  operation: 'provision' | 'renew' | 'rotate' | 'revoke';
}
/** Payload of `challenge:presented` / `challenge:propagated` / `challenge:cleaned`. */
export interface ChallengeEvent {
  name: string;
  /** Domain being validated (wildcards as `*.example.com`). */
  domain: string;
  /** FQDN of the TXT record (after CNAME following), trailing dot. */
  recordName: string;
  zone: string;
  provider: string;
}
/** Payload of `challenge:failed`. */
export interface ChallengeFailedEvent extends ChallengeEvent { error: CertpilotError }
/** Payload of `error`: something went wrong outside a caller's promise (loop, listener, cleanup). */
export interface ErrorEvent { error: CertpilotError | Error; name?: string; context: string }

/** Revocation reasons that public CAs accept (RFC 5280 codes 0, 1, 4, 5). */
export type RevocationReason = 'unspecified' | 'keyCompromise' | 'superseded' | 'cessationOfOperation';

/** Listener signatures, one per event. */
export interface CertificateManagerEvents {
  /** The CA issued a certificate and the store holds it. */
  'certificate:issued': (event: CertificateIssuedEvent) => void;
  /** The active certificate of a name changed: the one event a host reloads on. */
  'certificate:rotated': (event: CertificateRotatedEvent) => void;
  /**
   * After a rotation, an attached server was asked (loopback TLS handshake)
   * which certificate it presents. `ok: false` comes with an `error` event.
   * Off with `attach(server, name, { verify: false })`.
   */
  'certificate:served': (event: CertificateServedEvent) => void;
  /** A certificate was revoked at the CA (its replacement is already active). */
  'certificate:revoked': (event: CertificateRevokedEvent) => void;
  /** Renewal keeps failing and the certificate is close to expiry. */
  'certificate:expiring': (event: CertificateExpiringEvent) => void;
  /** An issuance, renewal or revocation failed; the active certificate stays. */
  'certificate:failed': (event: CertificateFailedEvent) => void;
  /** A challenge TXT record was created. */
  'challenge:presented': (event: ChallengeEvent) => void;
  /** A challenge TXT record is visible at the checked nameservers. */
  'challenge:propagated': (event: ChallengeEvent) => void;
  /** A challenge TXT record was removed. */
  'challenge:cleaned': (event: ChallengeEvent) => void;
  /** A challenge step failed. */
  'challenge:failed': (event: ChallengeFailedEvent) => void;
  /** An error outside any caller's promise. */
  error: (event: ErrorEvent) => void;
}
