import type { Issuer, IssueRequest, IssuedCertificate, RenewalInfo } from '../../src/issuer.js';
import { AcmeError } from '../../src/errors.js';
import { createCa, issueCertificate, type TestCa } from './selfsigned.js';

/**
 * An issuer for control-loop unit tests: signs with a local test CA (real
 * certificates, so the manager's checks run), records when it was called, and
 * can be switched to fail like a CA that is down.
 */
export class FakeIssuer implements Issuer {
  readonly id = 'fake';
  readonly keyType = 'ecdsa-p256' as const;
  /** Times (Date.now()) of every issue() call, failed or not. */
  readonly calls: number[] = [];
  /** When true, issue() rejects with a retryable ACME_SERVER_INTERNAL error. */
  failing = false;
  /** notBefore/notAfter of the next certificate, relative to now. */
  validity = { fromMs: -60_000, toMs: 90 * 86_400_000 };
  /** What renewalInfo() answers for the current certificate (cleared on each issue, as a CA's window is per certificate); undefined = no ARI. */
  ari: RenewalInfo | undefined;
  private ca: Promise<TestCa> | undefined;
  private pending = 0;

  /**
   * Resolves once no issue() is running. Signing uses real WebCrypto work that a fake clock cannot
   * advance, so loop tests wait on this (with real timers) after each fake-time step.
   */
  async idle(): Promise<void> {
    const { setTimeout: sleep } = await import('node:timers/promises');
    await sleep(0);
    while (this.pending > 0) await sleep(1);
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    this.calls.push(Date.now());
    if (this.failing) throw new AcmeError('ACME_SERVER_INTERNAL', 'ACME server refused to create the order: the CA is down (serverInternal)', { retryable: true });
    this.ari = undefined;
    this.pending++;
    try {
      this.ca ??= createCa();
      const leaf = await issueCertificate(await this.ca, {
        name: request.name,
        domains: request.domains,
        notBefore: new Date(Date.now() + this.validity.fromMs),
        notAfter: new Date(Date.now() + this.validity.toMs),
      });
      return { fullchain: leaf.fullchain, key: leaf.key };
    } finally {
      this.pending--;
    }
  }

  async revoke(): Promise<void> {}

  async renewalInfo(): Promise<RenewalInfo | undefined> {
    return this.ari;
  }
}
