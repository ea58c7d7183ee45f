/** What the TLS helpers need from a manager: current certificates and rotation notices. */
import type { ManagedCertificate } from '../certificate.js';
import type { CertificateRotatedEvent } from '../events.js';

/** A source of active certificates (the manager implements it). */
export interface CertificateSource {
  /** The active certificate of `name`, if the source holds one. */
  get(name: string): ManagedCertificate | undefined;
  /** Every active certificate. */
  list(): ManagedCertificate[];
  on(event: 'certificate:rotated', listener: (event: CertificateRotatedEvent) => void): unknown;
  off(event: 'certificate:rotated', listener: (event: CertificateRotatedEvent) => void): unknown;
}
