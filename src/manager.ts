/**
 * {@link CertificateManager}: provisions, holds, rotates and revokes
 * certificates, and serves them to TLS servers.
 */
import type tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import { toInfo, type KeyType, type ManagedCertificate } from './certificate.js';
import { assertName, normalizeDomains, sameDomains } from './domains.js';
import {
  AbortError, CertpilotError, ConfigError, RevocationError, isCertpilotError,
} from './errors.js';
import type { CertificateManagerEvents, RotationCause } from './events.js';
import { REVOCATION_REASON_CODES, type IssueContext, type Issuer } from './issuer.js';
import { backoffDelay } from './renewal/backoff.js';
import { RevocationWatch } from './renewal/revocation.js';
import { planRenewal, type RenewalPlan } from './renewal/plan.js';
import { loadRenewalState, saveRenewalState, type RenewalState } from './renewal/state.js';
import type { RenewalInfo } from './acme/ari.js';
import { CertificateRepository } from './storage/repository.js';
import type { Store } from './storage/store.js';
import { attach as attachServer, type AttachOptions } from './tls/attach.js';
import { ContextCache } from './tls/context-cache.js';
import { secureContext as contextFor, tlsOptions as optionsFor, type TlsOptionsOptions, type TlsServerOptions } from './tls/tls-options.js';
import { checkCertificate } from './x509/check.js';
import { assertKeyType } from './x509/keys.js';
import { buildCertificate } from './x509/parse.js';
import { Scheduler } from './renewal/scheduler.js';
import {
  messageOf, toCertpilotError, validateOptions,
  type CertificateManagerOptions, type CertificateStatus, type ProvisionSpec, type RevokeOptions,
} from './manager-options.js';

export type { CertificateManagerOptions, CertificateStatus, ProvisionSpec, RevokeOptions };

interface Entry extends RenewalState {
  domains: string[];
  keyType?: KeyType;
  cert?: ManagedCertificate;
  version?: string;
  /** When to ask the CA for ARI again. */
  ariCheckAt?: number;
}

/**
 * Keeps certificates valid with no person in the loop.
 *
 * @example
 * ```ts
 * const manager = new CertificateManager({ store: new FileStore({ directory: '/var/lib/certpilot' }), issuer });
 * await manager.provision({ name: 'api', domains: ['api.example.com', '*.api.example.com'] });
 * const server = https.createServer(manager.tlsOptions('api'), app);
 * manager.attach(server, 'api');
 * manager.monitor();
 * ```
 */
export class CertificateManager extends EventEmitter<CertificateManagerEvents> {
  private readonly store: Store;
  private readonly issuer: Issuer | undefined;
  private readonly repo: CertificateRepository;
  private readonly entries = new Map<string, Entry>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly inflight = new Map<string, { domains: string[]; promise: Promise<ManagedCertificate> }>();
  private readonly contexts: ContextCache;
  private readonly closing = new AbortController();
  private readonly options: CertificateManagerOptions;
  private readonly scheduler: Scheduler;
  private unwatch: (() => void) | undefined;
  private readonly renewing = new Set<string>();
  private readonly revocation: RevocationWatch | undefined;

  constructor(options: CertificateManagerOptions) {
    super();
    validateOptions(options);
    this.options = options;
    this.store = options.store;
    this.issuer = options.issuer;
    this.repo = new CertificateRepository(options.store, options.keepVersions ?? 5);
    this.contexts = new ContextCache({ max: options.contextCacheSize ?? 256 });
    this.revocation = options.checkRevocation === false ? undefined : new RevocationWatch({
      intervalMs: options.revocationCheckIntervalMs ?? 6 * 3_600_000,
      onError: (error, name) => this.report(error, `revocation check of "${name}"`, name),
    });
    this.scheduler = new Scheduler({
      checkIntervalMs: options.checkIntervalMs ?? 60_000,
      tick: () => this.tick(),
      onError: (error) => this.report(error, 'control loop'),
    });
  }

  /**
   * Returns a valid certificate for `spec.domains`: the one held or stored when
   * it covers the same set of names and is not yet due for renewal, else a new
   * one from the issuer. Calls for one name are serialized; concurrent calls
   * with the same domains share one order.
   */
  provision(spec: ProvisionSpec): Promise<ManagedCertificate> {
    this.assertOpen();
    if (typeof spec !== 'object' || spec === null) throw new ConfigError('INVALID_OPTIONS', 'provision() needs { name, domains }');
    assertName(spec.name);
    const domains = normalizeDomains(spec.domains);
    if (spec.keyType !== undefined) assertKeyType(spec.keyType);
    const { name } = spec;
    const running = this.inflight.get(name);
    if (running && sameDomains(running.domains, domains)) return running.promise;
    const promise = this.serial(name, () => this.doProvision(name, domains, spec.keyType));
    this.inflight.set(name, { domains, promise });
    const clear = () => { if (this.inflight.get(name)?.promise === promise) this.inflight.delete(name); };
    promise.then(clear, clear);
    return promise;
  }

  /** The active certificate of `name`, as the manager holds it (synchronous). */
  get(name: string): ManagedCertificate | undefined {
    return this.entries.get(name)?.cert;
  }

  /** Every active certificate the manager holds. */
  list(): ManagedCertificate[] {
    return [...this.entries.values()].flatMap((e) => (e.cert ? [e.cert] : []));
  }

  /** Orders a new certificate (with a new key) for `name` now and makes it active. */
  rotate(name: string): Promise<ManagedCertificate> {
    this.assertOpen();
    return this.serial(name, () => this.renew(name, 'manual', 'rotate'));
  }

  /**
   * Replaces `name`'s certificate first, then revokes the old one. Resolves to
   * the replacement. If the CA refuses the revocation, the replacement stays
   * active and the promise rejects with a {@link RevocationError} naming the
   * serial still valid at the CA.
   */
  revoke(name: string, options: RevokeOptions = {}): Promise<ManagedCertificate> {
    this.assertOpen();
    const reason = options.reason ?? 'unspecified';
    if (!Object.hasOwn(REVOCATION_REASON_CODES, reason)) {
      throw new ConfigError('INVALID_REVOCATION_REASON', `Revocation reason ${JSON.stringify(reason)} is not accepted by public CAs: use one of ${Object.keys(REVOCATION_REASON_CODES).join(', ')}`);
    }
    return this.serial(name, async () => {
      const old = this.requireEntry(name).cert;
      if (!old) throw new CertpilotError('NOT_FOUND', `No active certificate for "${name}" to revoke`);
      const replacement = await this.renew(name, 'revoked', 'revoke');
      try {
        await this.issuer!.revoke(old, reason, this.context(name, this.closing.signal));
      } catch (error) {
        const wrapped = new RevocationError(
          `The replacement for "${name}" (serial ${replacement.serialNumber}) is active, but the CA did not revoke the old certificate (serial ${old.serialNumber}), which is still valid: ${messageOf(error)}`,
          old.serialNumber,
          { cause: error, retryable: isCertpilotError(error) ? error.retryable : true, details: { name } },
        );
        this.fire('certificate:failed', { name, error: wrapped, attempt: 1, operation: 'revoke' });
        throw wrapped;
      }
      this.fire('certificate:revoked', { name, serialNumber: old.serialNumber, reason, replacement: toInfo(replacement) });
      return replacement;
    });
  }

  /**
   * Starts the control loop: renews certificates when due (with backoff after
   * failures) and, for every manager, picks up changes other instances wrote
   * to the store. Idempotent.
   */
  monitor(): void {
    this.assertOpen();
    if (this.scheduler.running) return;
    this.scheduler.start();
    this.scheduler.wake(0);
    // Stores that publish changes (Redis pub/sub) let followers switch within a round trip; the
    // periodic re-read in the loop stays as the fallback for missed messages.
    this.unwatch = this.store.watch?.('certificates/', (key) => {
      const name = key.split('/')[1];
      if (name && !this.closing.signal.aborted) void this.syncName(name);
    });
  }

  /** Loads every certificate in the store that the manager does not hold yet, or whose version changed. */
  async sync(): Promise<void> {
    const names = await this.repo.names();
    // Names load independently: a few dozen in flight hide store latency (10,000 names in seconds, not minutes).
    let next = 0;
    const worker = async () => {
      while (next < names.length && !this.closing.signal.aborted) await this.syncName(names[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(32, names.length) }, worker));
  }

  /** Picks up `name`'s certificate from the store when its `current` version differs from the one held. */
  private async syncName(name: string): Promise<void> {
    try {
      const version = await this.repo.currentVersion(name);
      if (!version || this.entries.get(name)?.version === version) return;
      await this.serial(name, async () => {
        // Read again under the name's queue when something local may have moved the pointer since.
        const latest = this.entries.has(name) ? await this.repo.currentVersion(name) : version;
        if (!latest || this.entries.get(name)?.version === latest) return;
        const stored = await this.repo.load(name, latest);
        const current = this.entries.get(name);
        if (!stored || current?.version === stored.version) return;
        this.activate(name, stored.certificate, stored.version, current?.cert ? 'remote' : 'loaded');
      });
    } catch (error) {
      if (!this.closing.signal.aborted) this.report(error, `sync of "${name}"`, name);
    }
  }

  /** Renewal state of every managed certificate, for dashboards and health checks. */
  status(): CertificateStatus[] {
    return [...this.entries.entries()].map(([name, e]) => ({
      name,
      domains: [...e.domains],
      attempts: e.attempts,
      ...(e.cert ? this.statusOf(e, e.cert) : {}),
      ...(e.nextAttemptAt ? { nextAttemptAt: e.nextAttemptAt } : {}),
      ...(e.lastError ? { lastError: { ...e.lastError } } : {}),
    }));
  }

  private statusOf(entry: Entry, cert: ManagedCertificate): Pick<CertificateStatus, 'serialNumber' | 'notAfter' | 'renewAt' | 'renewReason'> {
    const plan = this.plan(entry, cert);
    return { serialNumber: cert.serialNumber, notAfter: cert.notAfter, renewAt: plan.at, renewReason: plan.reason };
  }

  /** A `tls.SecureContext` for `name` (cached per certificate version). */
  secureContext(name: string): tls.SecureContext {
    return contextFor(this, this.contexts, name);
  }

  /** Options for `tls`/`https`/`http2` servers: `name`'s certificate as default plus an SNICallback serving every managed certificate. */
  tlsOptions(name?: string, options?: TlsOptionsOptions): TlsServerOptions {
    return optionsFor(this, this.contexts, name, { onError: (error) => this.report(error, 'tls'), ...options });
  }

  /** Calls `server.setSecureContext` on every rotation of `name`. Returns a function that detaches. */
  attach(server: tls.Server, name?: string, options?: AttachOptions): () => void {
    return attachServer(this, this.contexts, server, name, {
      onError: (error) => this.report(error, 'attach'), onVerified: (event) => this.fire('certificate:served', event), ...options,
    });
  }

  /** Stops the loop, aborts work in flight, waits for it to release its locks. The store stays consistent. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new AbortError('The certificate manager was closed', { details: {} }));
    this.scheduler.stop();
    this.unwatch?.();
    await Promise.allSettled([...this.queues.values()]);
  }

  private async doProvision(name: string, domains: string[], keyType?: KeyType): Promise<ManagedCertificate> {
    const entry = this.entries.get(name) ?? { domains, attempts: 0 };
    entry.domains = domains;
    if (keyType) entry.keyType = keyType;
    this.entries.set(name, entry);
    let current = entry.cert && this.usable(entry.cert, domains) ? entry.cert : undefined;
    if (!current) {
      const stored = await this.loadStored(name);
      if (stored && this.usable(stored.certificate, domains)) {
        await this.restoreState(name, entry);
        this.activate(name, stored.certificate, stored.version, entry.cert ? 'remote' : 'loaded');
        current = stored.certificate;
      }
    }
    if (current) {
      // A valid certificate that is due is renewed now unless a backoff is pending; if that fails the
      // valid one is still returned (and served): failures are reported through certificate:failed.
      const plan = this.plan(entry, current);
      if (plan.at.getTime() > Date.now() || plan.reason === 'retry' || !this.issuer) return current;
      return this.issueAndActivate(name, 'renewed', 'renew', true).catch(() => current);
    }
    const cause: RotationCause = entry.cert ? 'domains-changed' : 'issued';
    await this.restoreState(name, entry);
    return this.issueAndActivate(name, cause, 'provision', true);
  }

  /** Loads attempts and backoff from the store so a restart does not reset them into a retry storm. */
  private async restoreState(name: string, entry: Entry): Promise<void> {
    if (entry.cert || entry.attempts > 0) return;
    Object.assign(entry, await loadRenewalState(this.store, name));
  }

  private async renew(name: string, cause: RotationCause, operation: 'renew' | 'rotate' | 'revoke'): Promise<ManagedCertificate> {
    const entry = this.requireEntry(name);
    if (!entry.cert) throw new CertpilotError('NOT_FOUND', `No certificate for "${name}": provision it first`);
    // A loop renewal re-checks the store under the lock: another instance of the fleet may have just renewed it.
    return this.issueAndActivate(name, cause, operation, operation === 'renew');
  }

  /** Orders under the store lock; with `recheck`, another instance's fresh result is taken instead. */
  private async issueAndActivate(name: string, cause: RotationCause, operation: 'provision' | 'renew' | 'rotate' | 'revoke', recheck: boolean): Promise<ManagedCertificate> {
    const issuer = this.requireIssuer();
    const entry = this.entries.get(name)!;
    try {
      const lock = await this.store.lock(`certificates/${name}`, {
        ttlMs: this.options.lockTtlMs ?? 30_000, waitMs: this.options.lockWaitMs ?? 300_000, signal: this.closing.signal,
      });
      try {
        if (recheck) {
          const stored = await this.loadStored(name);
          if (stored && stored.version !== entry.version && this.usable(stored.certificate, entry.domains)
            && this.plan(entry, stored.certificate).at.getTime() > Date.now()) {
            this.activate(name, stored.certificate, stored.version, entry.cert ? 'remote' : 'loaded');
            return stored.certificate;
          }
        }
        const started = Date.now();
        const signal = AbortSignal.any([this.closing.signal, lock.lost]);
        const issued = await issuer.issue(
          { name, domains: entry.domains, keyType: entry.keyType ?? issuer.keyType, ...(entry.cert ? { replacing: entry.cert } : {}) },
          this.context(name, signal),
        );
        const certificate = buildCertificate(name, entry.domains, issued.fullchain, issued.key);
        checkCertificate(certificate);
        const version = await this.repo.save(certificate, issuer.id);
        entry.attempts = 0;
        delete entry.nextAttemptAt;
        delete entry.lastError;
        delete entry.ari;
        delete entry.ariCheckAt;
        await this.persistState(name, entry);
        this.fire('certificate:issued', { name, certificate: toInfo(certificate), durationMs: Date.now() - started });
        this.activate(name, certificate, version, cause);
        return certificate;
      } finally {
        await lock.release().catch((error) => this.report(error, `lock release of "${name}"`, name));
      }
    } catch (error) {
      const typed = toCertpilotError(error, this.closing.signal.aborted);
      entry.attempts += 1;
      entry.lastError = { message: typed.message, code: typed.code };
      if (typed.code !== 'ABORTED' && typed.code !== 'CLOSED') {
        entry.nextAttemptAt = new Date(Date.now() + backoffDelay(entry.attempts, Math.random, this.options.retryBackoffMs));
        await this.persistState(name, entry);
      }
      this.fire('certificate:failed', {
        name, error: typed, attempt: entry.attempts, operation, ...(entry.nextAttemptAt ? { nextAttemptAt: entry.nextAttemptAt } : {}),
      });
      const cert = entry.cert;
      if (cert) {
        const renewAt = this.plan({ ...entry, nextAttemptAt: undefined }, cert).at.getTime();
        const expiresInMs = cert.notAfter.getTime() - Date.now();
        // Past the middle of the renewal window with renewal failing: time for a person to look.
        if (Date.now() >= renewAt + (cert.notAfter.getTime() - renewAt) / 2) {
          this.fire('certificate:expiring', { name, certificate: toInfo(cert), expiresInMs });
        }
      }
      throw typed;
    }
  }

  private activate(name: string, certificate: ManagedCertificate, version: string, cause: RotationCause): void {
    const entry = this.entries.get(name) ?? { domains: certificate.domains, attempts: 0 };
    const previous = entry.cert;
    entry.cert = certificate;
    entry.version = version;
    entry.domains = certificate.domains;
    this.entries.set(name, entry);
    this.fire('certificate:rotated', { name, current: toInfo(certificate), ...(previous ? { previous: toInfo(previous) } : {}), cause });
    this.scheduler.wake(Math.max(0, this.plan(entry, certificate).at.getTime() - Date.now()));
  }

  private async tick(): Promise<number | undefined> {
    await this.sync();
    if (!this.issuer) return undefined;
    const now = Date.now();
    let next: number | undefined;
    for (const [name, entry] of this.entries) {
      if (!entry.cert || this.closing.signal.aborted) continue;
      if (this.issuer.renewalInfo && (entry.ariCheckAt ?? 0) <= now) await this.refreshRenewalInfo(name, entry, entry.cert);
      // Listed on its CRL: due now like a passed ARI window, unless the backoff of a failed replacement holds.
      const revoked = (await this.revocation?.check(name, entry.cert, now, this.closing.signal)) === true;
      const plan = this.plan(entry, entry.cert);
      let due = revoked ? Math.min(plan.at.getTime(), Math.max(now, entry.nextAttemptAt?.getTime() ?? now)) : plan.at.getTime();
      if (due <= now) {
        // One queued renewal per name: a tick while it runs must not queue a second one.
        if (!this.renewing.has(name)) {
          this.renewing.add(name);
          const cause = revoked || plan.reason === 'ari-window-passed' ? 'revoked' : 'renewed';
          void this.serial(name, () => this.renew(name, cause, 'renew'))
            .catch(() => undefined)
            .finally(() => this.renewing.delete(name));
        }
        continue;
      }
      if (entry.ariCheckAt !== undefined) due = Math.min(due, entry.ariCheckAt);
      due = Math.min(due, this.revocation?.nextCheckAt(name) ?? Infinity);
      next = next === undefined ? due - now : Math.min(next, due - now);
    }
    return next;
  }

  /** Asks the CA for its ARI window; failures keep the last known window and are reported, never counted as renewal failures. */
  private async refreshRenewalInfo(name: string, entry: Entry, cert: ManagedCertificate): Promise<void> {
    let info: RenewalInfo | undefined;
    try {
      info = await this.issuer!.renewalInfo!(cert, this.context(name, this.closing.signal));
    } catch (error) {
      entry.ariCheckAt = Date.now() + 3600_000;
      if (!this.closing.signal.aborted) this.report(error, `renewal information for "${name}"`, name);
      return;
    }
    if (!info) {
      // The CA has no ARI: ask again in a day in case it starts offering it.
      entry.ariCheckAt = Date.now() + 86_400_000;
      return;
    }
    if (entry.cert !== cert) return;
    entry.ari = { start: info.start, end: info.end };
    // Whatever the issuer says, never ask again sooner than a minute from now (RFC 9773 clamps Retry-After too).
    entry.ariCheckAt = Math.max(info.retryAfter.getTime(), Date.now() + 60_000);
    await this.persistState(name, entry).catch((error) => this.report(error, `state of "${name}"`, name));
  }

  private plan(entry: Entry, certificate: ManagedCertificate): RenewalPlan {
    return planRenewal({
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      serialNumber: certificate.serialNumber,
      now: Date.now(),
      ...(this.options.renewal ? { policy: this.options.renewal } : {}),
      ...(entry.ari && entry.cert === certificate ? { ari: entry.ari } : {}),
      ...(entry.nextAttemptAt ? { nextAttemptAt: entry.nextAttemptAt } : {}),
    });
  }

  private async persistState(name: string, entry: Entry): Promise<void> {
    await saveRenewalState(this.store, name, entry);
  }

  /** A certificate may be handed out instead of ordering: same names and it passes its checks (so it is not expired). */
  private usable(certificate: ManagedCertificate, domains: string[]): boolean {
    if (!sameDomains(certificate.domains, domains)) return false;
    try {
      checkCertificate(certificate);
      return true;
    } catch {
      return false;
    }
  }

  private async loadStored(name: string) {
    try {
      return await this.repo.load(name);
    } catch (error) {
      // A damaged version is reported and replaced by a new order; it must not block issuance.
      if (isCertpilotError(error) && error.code === 'STORE_CORRUPT') {
        this.report(error, `load of "${name}"`, name);
        return undefined;
      }
      throw error;
    }
  }

  private context(name: string, signal: AbortSignal): IssueContext {
    return {
      store: this.store,
      signal,
      progress: (event) => {
        const payload = { name, domain: event.domain, recordName: event.recordName, zone: event.zone, provider: event.provider };
        if (event.type === 'failed') this.fire('challenge:failed', { ...payload, error: toCertpilotError(event.error, false) });
        else this.fire(`challenge:${event.type}`, payload);
      },
    };
  }

  /** Runs `fn` after every earlier operation on `name` settled. */
  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const next = previous.then(() => { this.assertOpen(); return fn(); }, () => { this.assertOpen(); return fn(); });
    const tail = next.catch(() => undefined);
    this.queues.set(name, tail);
    void tail.then(() => { if (this.queues.get(name) === tail) this.queues.delete(name); });
    return next;
  }

  /** Calls every listener on its own so one that throws neither breaks the loop nor starves the others. */
  private fire<E extends keyof CertificateManagerEvents>(event: E, payload: Parameters<CertificateManagerEvents[E]>[0]): void {
    for (const listener of this.listeners(event)) {
      try {
        (listener as (p: typeof payload) => void)(payload);
      } catch (error) {
        if (event !== 'error') this.report(error, `listener of ${event}`);
      }
    }
  }

  private report(error: unknown, context: string, name?: string): void {
    this.fire('error', { error: error instanceof Error ? error : new Error(String(error)), context, ...(name ? { name } : {}) });
  }

  private requireIssuer(): Issuer {
    if (!this.issuer) {
      throw new ConfigError('NO_ISSUER', 'This manager has no issuer, so it only follows the store: pass `issuer` (e.g. new AcmeIssuer({...})) to order certificates');
    }
    return this.issuer;
  }

  private requireEntry(name: string): Entry {
    assertName(name);
    const entry = this.entries.get(name);
    if (!entry) throw new CertpilotError('NOT_FOUND', `No managed certificate named "${name}": provision it first`);
    return entry;
  }

  private assertOpen(): void {
    if (this.closing.signal.aborted) throw new CertpilotError('CLOSED', 'The certificate manager is closed');
  }
}
