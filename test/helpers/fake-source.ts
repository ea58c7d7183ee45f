/**
 * A minimal {@link CertificateSource} for TLS tests: a map of certificates
 * plus the one event the TLS helpers listen to. It emits the way the manager
 * does — state first, then `certificate:rotated` with key-free infos — so a
 * listener that calls `get(name)` from inside the event sees the new one.
 */
import { EventEmitter } from 'eventemitter3';
import { toInfo, type ManagedCertificate } from '../../src/certificate.js';
import type { CertificateRotatedEvent, RotationCause } from '../../src/events.js';
import type { CertificateSource } from '../../src/tls/source.js';

interface Events {
  'certificate:rotated': (event: CertificateRotatedEvent) => void;
}

/**
 * @example
 * ```ts
 * const source = new FakeSource([api]);
 * source.rotate(api2, 'revoked'); // emits certificate:rotated { name: 'api', cause: 'revoked' }
 * ```
 */
export class FakeSource extends EventEmitter<Events> implements CertificateSource {
  readonly #certificates = new Map<string, ManagedCertificate>();

  constructor(certificates: ManagedCertificate[] = []) {
    super();
    for (const certificate of certificates) this.#certificates.set(certificate.name, certificate);
  }

  get(name: string): ManagedCertificate | undefined {
    return this.#certificates.get(name);
  }

  list(): ManagedCertificate[] {
    return [...this.#certificates.values()];
  }

  /**
   * Makes `certificate` the active one for its name and emits `certificate:rotated`.
   * @default cause 'renewed' when a previous certificate exists, 'issued' otherwise
   */
  rotate(certificate: ManagedCertificate, cause?: RotationCause): CertificateRotatedEvent {
    const previous = this.#certificates.get(certificate.name);
    this.#certificates.set(certificate.name, certificate);
    const event: CertificateRotatedEvent = {
      name: certificate.name,
      current: toInfo(certificate),
      cause: cause ?? (previous ? 'renewed' : 'issued'),
      ...(previous ? { previous: toInfo(previous) } : {}),
    };
    this.emit('certificate:rotated', event);
    return event;
  }

  /** Number of `certificate:rotated` listeners (to check that detach really detaches). */
  get rotatedListeners(): number {
    return this.listenerCount('certificate:rotated');
  }
}
