/** {@link AcmeIssuer}: certificates from any RFC 8555 CA, validated with DNS-01. */
import { AsyncLocalStorage } from 'node:async_hooks';
import type https from 'node:https';
import type { KeyType, ManagedCertificate } from '../certificate.js';
import { Dns01Solver, type PropagationOptions } from '../challenges/dns01.js';
import type { DnsProvider } from '../challenges/provider.js';
import { AcmeError, ConfigError, isCertpilotError } from '../errors.js';
import type { RevocationReason } from '../events.js';
import { REVOCATION_REASON_CODES, type IssueContext, type IssueRequest, type IssuedCertificate, type Issuer } from '../issuer.js';
import { assertKeyType, generatePrivateKey } from '../x509/keys.js';
import { pemToDer } from '../x509/pem.js';
import { AcmeAccount, isAccountGone } from './account.js';
import { journaledProvider, recoverChallenges } from '../challenges/journal.js';
import { certId, parseRenewalInfo, type RenewalInfo } from './ari.js';
import { ACME_DIRECTORIES } from './directories.js';
import { runOrder } from './order.js';
import type { PollOptions } from './poll.js';
import { AcmeTransport, createAgent, withSignal } from './transport.js';

/** Per-order context for the issuer's shared solver: whom to report to and the journaling provider of that order. */
const orderOf = new AsyncLocalStorage<{ progress: IssueContext['progress']; dns: DnsProvider }>();

/** Options of {@link AcmeIssuer}. */
export interface AcmeIssuerOptions {
  /** The CA's directory URL: a preset from `AcmeIssuer.directories` or any RFC 8555 URL. */
  directoryUrl: string;
  /** Contact email for the account (expiry notices, CA announcements). @default undefined (no contact) */
  email?: string;
  /** You read and agree to the CA's terms of service. Required by CAs that publish terms. @default false */
  termsOfServiceAgreed?: boolean;
  /** The DNS provider that publishes `_acme-challenge` TXT records. */
  dns: DnsProvider;
  /** How to check that challenge records are visible before asking the CA to validate. @default check the zone's authoritative nameservers, every 2 s for up to 120 s */
  propagation?: PropagationOptions;
  /** External account binding from your CA account (ZeroSSL, Google Trust Services). @default undefined */
  externalAccountBinding?: { kid: string; hmacKey: string };
  /** Key type of certificate keys. @default 'ecdsa-p256' */
  keyType?: KeyType;
  /** Keep the previous private key on renewal (for key pinning). A new key on every certificate is safer. @default false */
  reuseKey?: boolean;
  /** PEM CA certificate(s) trusted for the ACME server's own HTTPS, replacing the default roots (like Node's `ca`); never changes process-wide state. @default Node's default roots */
  caCertificates?: string | string[];
  /** Issuer common name of the chain to prefer when the CA offers alternates. @default the CA's default chain */
  preferredChain?: string;
  /** ACME profile to request (`classic`, `shortlived`, …) where the CA supports profiles. @default the CA's default */
  profile?: string;
  /**
   * Ask for this lifetime through the order's `notAfter` (RFC 8555 §7.4). Many CAs ignore or refuse it
   * (Let's Encrypt refuses it; use `profile` there); Pebble and private CAs honour it. @default the CA's default
   */
  lifetimeMs?: number;
  /** Name of the account under this directory, so one store can hold several accounts. @default 'default' */
  accountName?: string;
  /** Timeout of each HTTP request to the CA. @default 30000 */
  requestTimeoutMs?: number;
  /** Polling of authorizations and orders: starts at 25 ms and doubles up to 2 s, for at most 120 s. */
  polling?: Omit<PollOptions, 'signal'>;
}

/**
 * Issues certificates from any RFC 8555 CA (Let's Encrypt, ZeroSSL, Google
 * Trust Services, Pebble, a private step-ca, …) with DNS-01 challenges.
 *
 * @example
 * ```ts
 * const issuer = new AcmeIssuer({
 *   directoryUrl: AcmeIssuer.directories.letsEncryptStaging,
 *   email: 'ops@example.com',
 *   termsOfServiceAgreed: true,
 *   dns: cloudflare({ apiToken: process.env.CLOUDFLARE_API_TOKEN! }),
 * });
 * ```
 */
export class AcmeIssuer implements Issuer {
  /** Well-known directory URLs. */
  static readonly directories = ACME_DIRECTORIES;
  readonly id: string;
  readonly keyType: KeyType;
  private readonly account: AcmeAccount;
  private readonly agent: https.Agent;
  private readonly options: AcmeIssuerOptions;
  /** One solver per issuer, so its zone cache outlives a single order. */
  private readonly solver: Dns01Solver;

  constructor(options: AcmeIssuerOptions) {
    validateOptions(options);
    this.options = { ...options };
    this.keyType = options.keyType ?? 'ecdsa-p256';
    const caCertificates = options.caCertificates === undefined ? undefined : [options.caCertificates].flat();
    this.agent = createAgent(caCertificates);
    const accountName = options.accountName ?? 'default';
    this.id = `acme:${options.directoryUrl}#${accountName}`;
    const dns = options.dns;
    // The solver is shared by concurrent orders; each order's calls go to its own journaling wrapper.
    const routed: DnsProvider = {
      name: dns.name,
      appendRecords: (zone, records, o) => (orderOf.getStore()?.dns ?? dns).appendRecords(zone, records, o),
      deleteRecords: (zone, records, o) => (orderOf.getStore()?.dns ?? dns).deleteRecords(zone, records, o),
      ...(dns.listZones ? { listZones: (o: { signal: AbortSignal }) => dns.listZones!(o) } : {}),
    };
    this.solver = new Dns01Solver({
      provider: routed,
      ...(options.propagation ? { propagation: options.propagation } : {}),
      // Orders run concurrently; each reports progress to the manager that asked for it.
      onEvent: (type, event) => orderOf.getStore()?.progress({ type, ...event }),
    });
    this.account = new AcmeAccount(
      {
        directoryUrl: options.directoryUrl,
        accountName,
        ...(caCertificates ? { caCertificates } : {}),
        ...(options.email ? { email: options.email } : {}),
        ...(options.termsOfServiceAgreed !== undefined ? { termsOfServiceAgreed: options.termsOfServiceAgreed } : {}),
        ...(options.externalAccountBinding ? { externalAccountBinding: options.externalAccountBinding } : {}),
        ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      },
      this.agent,
    );
  }

  /** Orders a certificate; re-registers once when the CA no longer knows the account. */
  async issue(request: IssueRequest, context: IssueContext): Promise<IssuedCertificate> {
    const key = request.key ?? (this.options.reuseKey && request.replacing ? request.replacing.key : await generatePrivateKey(request.keyType));
    const solver = this.solver;
    // A previous holder of this name's lock may have died after creating records: remove them first.
    const recovered = await recoverChallenges(this.options.dns, context.store, request.name, context.signal);
    for (const entry of recovered.recovered) {
      for (const record of entry.records) {
        context.progress({ type: 'cleaned', domain: record.name, recordName: record.name, zone: entry.zone, provider: entry.provider });
      }
    }
    const base: Record<string, unknown> = {};
    if (this.options.profile) base.profile = this.options.profile;
    if (this.options.lifetimeMs) base.notAfter = new Date(Date.now() + this.options.lifetimeMs).toISOString();
    const attempt = async (withReplaces: boolean) => {
      const transport = await this.account.transport(context.store, context.signal);
      const extra = { ...base };
      // `replaces` (RFC 9773 §5) only where the CA speaks ARI: other CAs may reject unknown fields.
      if (withReplaces && request.replacing) {
        const id = (await withSignal(context.signal, () => transport.directory())).renewalInfo ? certId(request.replacing.cert) : undefined;
        if (id) extra.replaces = id;
      }
      const order = { progress: context.progress, dns: journaledProvider(this.options.dns, context.store, request.name) };
      return withSignal(context.signal, () => orderOf.run(order, () =>
        runOrder(transport, solver, {
          domains: request.domains,
          keyPem: key,
          extra,
          signal: context.signal,
          ...(this.options.preferredChain ? { preferredChain: this.options.preferredChain } : {}),
          ...(this.options.polling ? { poll: this.options.polling } : {}),
        })),
      );
    };
    const fullchain = await this.withAccountRetry(context, () => attempt(true)).catch((error: unknown) => {
      // The CA says this certificate was already replaced (by us on another instance, or by a retry): order without it.
      if (isCertpilotError(error) && error.code === 'ACME_ALREADY_REPLACED') return this.withAccountRetry(context, () => attempt(false));
      throw error;
    });
    return { fullchain, key };
  }

  /** The CA's ARI suggestion for `certificate`, or `undefined` when the directory has no `renewalInfo`. */
  async renewalInfo(certificate: ManagedCertificate, context: IssueContext): Promise<RenewalInfo | undefined> {
    const transport = await this.account.transport(context.store, context.signal);
    return withSignal(context.signal, async () => {
      const base = (await transport.directory()).renewalInfo;
      const id = typeof base === 'string' ? certId(certificate.cert) : undefined;
      if (!id) return undefined;
      const resp = await transport.get(`${String(base).replace(/\/$/, '')}/${id}`);
      return parseRenewalInfo(resp.status, resp.data, resp.headers['retry-after']);
    });
  }

  /**
   * Revokes at the CA. `keyCompromise` is signed with the certificate's own key
   * (what Let's Encrypt requires to accept that reason); other reasons with the account key.
   * An already revoked certificate counts as revoked.
   */
  async revoke(certificate: ManagedCertificate, reason: RevocationReason, context: IssueContext): Promise<void> {
    const payload = { certificate: pemToDer(certificate.cert).toString('base64url'), reason: REVOCATION_REASON_CODES[reason] };
    const send = async () => {
      if (reason === 'keyCompromise') {
        const transport = new AcmeTransport(certificate.key, { directoryUrl: this.options.directoryUrl }, this.agent);
        await withSignal(context.signal, () => transport.postResource('revokeCert', payload, `revoke ${certificate.serialNumber}`, { kid: false }));
        return;
      }
      const transport = await this.account.transport(context.store, context.signal);
      await withSignal(context.signal, () => transport.postResource('revokeCert', payload, `revoke ${certificate.serialNumber}`));
    };
    try {
      await this.withAccountRetry(context, send);
    } catch (error) {
      if (isCertpilotError(error) && error.code === 'ACME_ALREADY_REVOKED') return;
      throw error;
    }
  }

  /** Releases the keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  private async withAccountRetry<T>(context: IssueContext, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!isAccountGone(error)) throw error;
      await this.account.reset(context.store);
      return fn();
    }
  }
}

function validateOptions(options: AcmeIssuerOptions): void {
  if (typeof options !== 'object' || options === null) throw new ConfigError('INVALID_OPTIONS', 'AcmeIssuer needs an options object');
  let url: URL;
  try {
    url = new URL(options.directoryUrl);
  } catch {
    throw new ConfigError('INVALID_OPTIONS', `directoryUrl ${JSON.stringify(options.directoryUrl)} is not a URL: pass an https:// ACME directory URL, e.g. AcmeIssuer.directories.letsEncryptStaging`);
  }
  if (url.protocol !== 'https:') throw new ConfigError('INVALID_OPTIONS', `directoryUrl must use https:// (RFC 8555 §6.1), got ${url.protocol}`);
  if (!options.dns || typeof options.dns.appendRecords !== 'function' || typeof options.dns.deleteRecords !== 'function') {
    throw new ConfigError('INVALID_OPTIONS', 'AcmeIssuer needs a DNS provider in `dns` (e.g. cloudflare({ apiToken }) from certpilot/providers/cloudflare)');
  }
  if (options.keyType !== undefined) assertKeyType(options.keyType);
  if (options.lifetimeMs !== undefined && !(Number.isFinite(options.lifetimeMs) && options.lifetimeMs >= 60_000)) {
    throw new ConfigError('INVALID_OPTIONS', `lifetimeMs must be a duration of at least 60000 ms, got ${JSON.stringify(options.lifetimeMs)}`);
  }
  if (options.email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(options.email)) {
    throw new ConfigError('INVALID_OPTIONS', `email ${JSON.stringify(options.email)} is not an email address`);
  }
  const eab = options.externalAccountBinding;
  if (eab !== undefined && (typeof eab.kid !== 'string' || !eab.kid || typeof eab.hmacKey !== 'string' || !eab.hmacKey)) {
    throw new ConfigError('INVALID_OPTIONS', 'externalAccountBinding needs a non-empty kid and hmacKey (base64url) from your CA account');
  }
  for (const pem of options.caCertificates === undefined ? [] : [options.caCertificates].flat()) {
    if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError('INVALID_PEM', 'caCertificates must be PEM certificate strings (-----BEGIN CERTIFICATE-----)');
    }
  }
}

