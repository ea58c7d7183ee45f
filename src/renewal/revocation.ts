/**
 * {@link RevocationWatch}: the control loop's side of CRL checking — when
 * each managed certificate is looked at again. The {@link RevocationChecker}
 * answers "is it listed"; this decides how often to ask, per name, so that a
 * tick over 10,000 certificates costs a map lookup for each one not due.
 */
import type { ManagedCertificate } from '../certificate.js';
import type { CertpilotError } from '../errors.js';
import { RevocationChecker, type RevocationCheckerOptions } from './crl.js';

/** Options of {@link RevocationWatch}. */
export interface RevocationWatchOptions extends Omit<RevocationCheckerOptions, 'onError'> {
  /** Time between two checks of one certificate. @default 21600000 (6 hours) */
  intervalMs?: number;
  /** Time before a check that could not tell is tried again (never more than `intervalMs`). @default 3600000 (1 hour) */
  retryMs?: number;
  /** Told why a check could not tell; `name` is the managed name of the certificate. @default undefined */
  onError?: (error: CertpilotError, name: string) => void;
}

interface Due { serialNumber: string; at: number; revoked: boolean }

/**
 * Per-name CRL check schedule for the manager's loop. A listing is final: once
 * a certificate is found revoked it stays revoked (no further downloads) until
 * the name holds another certificate.
 *
 * @example
 * ```ts
 * const watch = new RevocationWatch({ intervalMs: 6 * 3600_000, onError: (e, name) => log.warn(name, e.message) });
 * if (await watch.check('api', manager.get('api')!)) await manager.rotate('api');
 * const next = watch.nextCheckAt('api'); // ms timestamp, or undefined when the certificate names no CRL
 * ```
 */
export class RevocationWatch {
  /** The checker that downloads, verifies and caches CRLs. */
  readonly checker: RevocationChecker;
  private readonly due = new Map<string, Due>();
  /** The managed name each certificate is checked under (errors name it; a certificate's own `name` may differ). */
  private readonly names = new WeakMap<object, string>();
  private readonly intervalMs: number;
  private readonly retryMs: number;

  constructor(options: RevocationWatchOptions = {}) {
    const { intervalMs, retryMs, onError, ...checker } = options;
    this.intervalMs = intervalMs ?? 6 * 3_600_000;
    this.retryMs = Math.min(this.intervalMs, retryMs ?? 3_600_000);
    this.checker = new RevocationChecker({ ...checker, ...(onError ? { onError: (error, cert) => onError(error, this.names.get(cert) ?? cert.name) } : {}) });
  }

  /**
   * Whether `certificate` (held under `name`) is known to be revoked. Downloads
   * or reads the CRL only when this name's check is due; otherwise answers from
   * the last check.
   */
  async check(name: string, certificate: ManagedCertificate, now = Date.now(), signal?: AbortSignal): Promise<boolean> {
    let due = this.due.get(name);
    if (!due || due.serialNumber !== certificate.serialNumber) {
      // A new certificate is checked at once (a restart may have missed its revocation); one that names no CRL never.
      due = { serialNumber: certificate.serialNumber, at: this.checker.distributionPoint(certificate) ? now : Infinity, revoked: false };
      this.due.set(name, due);
    }
    if (due.revoked || due.at > now) return due.revoked;
    this.names.set(certificate, name);
    const verdict = await this.checker.isRevoked(certificate, signal);
    due.revoked = verdict === true;
    due.at = now + (verdict === undefined ? this.retryMs : this.intervalMs);
    return due.revoked;
  }

  /** When `name` is next due for a check (ms timestamp); undefined when never (no CRL, already revoked, unknown name). */
  nextCheckAt(name: string): number | undefined {
    const due = this.due.get(name);
    return due && !due.revoked && Number.isFinite(due.at) ? due.at : undefined;
  }

  /** Forgets `name` (it is no longer managed). */
  forget(name: string): void {
    this.due.delete(name);
  }
}
