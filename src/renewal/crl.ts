/**
 * {@link RevocationChecker}: is a certificate on its CA's CRL? With OCSP gone
 * from Let's Encrypt (2025), a CRL (and ARI) is how a host learns that its
 * certificate was revoked behind its back — by the CA after a mis-issuance,
 * or by another operator — and must be replaced before clients reject it.
 *
 * The URL comes from the certificate's cRLDistributionPoints, so nothing is
 * configured per CA. Each CRL is verified against the certificate's issuer
 * from the chain before it is believed: an unsigned or foreign CRL could
 * otherwise make a host replace (or keep) certificates at an attacker's word.
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import type { CertificateInfo } from '../certificate.js';
import { CertificateError, isCertpilotError, type CertpilotError } from '../errors.js';
import { provider, x509 } from '../local/x509.js';
import { splitCertificates } from '../x509/pem.js';
import { crlDer, mayHaveDistributionPoint, normalizeSerial, parseIssuingDistributionPoint, pemBody, type IssuingDistributionPoint } from './crl-der.js';
import { fetchCrl, type FetchLike } from './crl-fetch.js';

/** What {@link RevocationChecker.isRevoked} reads from a certificate. */
export type CheckedCertificate = Pick<CertificateInfo, 'name' | 'cert' | 'chain'>;

/** Options of {@link RevocationChecker}. */
export interface RevocationCheckerOptions {
  /** Longest wait for one CRL download, body included. @default 10000 */
  timeoutMs?: number;
  /** Largest CRL accepted, in bytes (Let's Encrypt's shards are far smaller). @default 10485760 (10 MiB) */
  maxBytes?: number;
  /** Shortest time a downloaded CRL (or a failed download) is reused, whatever its nextUpdate says. @default 60000 */
  minCacheMs?: number;
  /** Longest time a downloaded CRL is reused, however distant its nextUpdate. @default 86400000 (24 hours) */
  maxCacheMs?: number;
  /** CRLs (one per URL) kept in memory; the least recently used is dropped first. @default 256 */
  maxCachedCrls?: number;
  /** The HTTP client. @default globalThis.fetch */
  fetch?: FetchLike;
  /** Called when a check could not tell (download, parse or signature failed). Once per CRL download and issuer, not per certificate. @default undefined */
  onError?: (error: CertpilotError, certificate: CheckedCertificate) => void;
  /** The clock. @default Date.now */
  now?: () => number;
}

/** A downloaded CRL, or why there is none, as cached per URL. */
interface CachedCrl {
  expiresAt: number;
  crl?: x509.X509Crl;
  serials?: Set<string>;
  idp?: IssuingDistributionPoint;
  error?: CertpilotError;
  /** Set when the CRL was already past its nextUpdate when downloaded (one error object, so it is reported once). */
  stale?: CertpilotError;
  /** Issuer SHA-256 fingerprint → whether this CRL verified against it (once per download). */
  verified: Map<string, Promise<CertpilotError | undefined>>;
  /** Errors already handed to onError, so a fleet of certificates on one CRL reports it once. */
  reported: Set<CertpilotError>;
}

/** What is worked out once per certificate (held by identity: the manager keeps one object per version). */
interface Parsed { url?: string; serial: string; issuer?: NodeX509; issuerError?: CertpilotError }

const SKEW_MS = 300_000;
/** OID of deltaCRLIndicator: a delta CRL lists only changes since a base CRL, so alone it cannot clear a certificate. */
const DELTA_CRL = '2.5.29.27';
/** OID of issuingDistributionPoint. */
const IDP = '2.5.29.28';

function invalid(url: string, problem: string, stage: string, cause?: unknown): CertificateError {
  return new CertificateError('CERTIFICATE_CHECK_FAILED', `The CRL at ${url} cannot be used: ${problem}`, {
    details: { url, stage }, ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Checks certificates against the CRL named in their cRLDistributionPoints
 * extension (the first http/https URL). Downloads are shared: one per URL at a
 * time, cached until the CRL's nextUpdate (clamped to `minCacheMs`..`maxCacheMs`).
 * A CRL is believed only when its issuer name and signature match the
 * certificate's issuer in `chain`, it is a complete CRL (not a delta, not for
 * CA certificates only, not indirect), its issuingDistributionPoint (if any)
 * names the URL it came from, and its thisUpdate is not in the future.
 *
 * @example
 * ```ts
 * const checker = new RevocationChecker({ onError: (error, cert) => log.warn(cert.name, error.message) });
 * const revoked = await checker.isRevoked(manager.get('api')!);
 * if (revoked === true) await manager.rotate('api');   // undefined: could not tell
 * ```
 */
export class RevocationChecker {
  private readonly cache = new Map<string, CachedCrl>();
  private readonly inflight = new Map<string, Promise<CachedCrl>>();
  private readonly parsed = new WeakMap<object, Parsed>();
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly minCacheMs: number;
  private readonly maxCacheMs: number;
  private readonly maxCached: number;
  private readonly fetch: FetchLike;
  private readonly now: () => number;

  constructor(private readonly options: RevocationCheckerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
    this.minCacheMs = options.minCacheMs ?? 60_000;
    this.maxCacheMs = Math.max(this.minCacheMs, options.maxCacheMs ?? 86_400_000);
    this.maxCached = options.maxCachedCrls ?? 256;
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.now = options.now ?? Date.now;
  }

  /** The CRL URL of `certificate` (first http/https distribution point), or undefined when it names none. */
  distributionPoint(certificate: CheckedCertificate): string | undefined {
    return this.parse(certificate).url;
  }

  /**
   * `true` when the certificate's CRL lists its serial, `false` when a valid,
   * current CRL does not, `undefined` when it cannot tell: no distribution
   * point, or the CRL could not be fetched or verified (then `onError` hears why).
   */
  async isRevoked(certificate: CheckedCertificate, signal?: AbortSignal): Promise<boolean | undefined> {
    const parsed = this.parse(certificate);
    const { url } = parsed;
    if (!url) return undefined;
    if (!parsed.issuer) return this.fail(undefined, parsed.issuerError!, certificate);
    const entry = await this.load(url, signal);
    if (entry.error || !entry.crl) return this.fail(entry, entry.error!, certificate);
    const issuerKey = parsed.issuer.fingerprint256;
    let verdict = entry.verified.get(issuerKey);
    if (!verdict) {
      verdict = this.verify(url, entry, parsed.issuer);
      entry.verified.set(issuerKey, verdict);
    }
    const problem = await verdict;
    if (problem) return this.fail(entry, problem, certificate);
    // A revocation is final: a listing counts even in a CRL past its nextUpdate or limited to some reasons.
    if (entry.serials!.has(parsed.serial)) return true;
    // Stale means the CA served a CRL already past its nextUpdate. One that expires while cached (a CA updating
    // more often than the `minCacheMs` floor) stays good until the cache does: that floor is this checker's choice.
    if (entry.stale) return this.fail(entry, entry.stale, certificate);
    // A CRL for some reasons only cannot clear a serial it does not list.
    return entry.idp?.someReasons ? undefined : false;
  }

  /** Forgets every cached CRL (e.g. after a CA incident, to fetch at once). */
  clear(): void {
    this.cache.clear();
  }

  private parse(certificate: CheckedCertificate): Parsed {
    const known = this.parsed.get(certificate);
    if (known) return known;
    const result: Parsed = { serial: '' };
    const der = pemBody(certificate.cert);
    if (mayHaveDistributionPoint(der)) {
      try {
        const leaf = new x509.X509Certificate(der);
        result.serial = normalizeSerial(leaf.serialNumber);
        result.url = urlOf(leaf);
      } catch {
        // The manager parsed the certificate already; an extension x509 cannot read just means no CRL check.
        delete result.url;
      }
      if (result.url) Object.assign(result, issuerOf(certificate, result.url));
    }
    this.parsed.set(certificate, result);
    return result;
  }

  /** The cached CRL for `url` while fresh, else one download shared by every caller. */
  private async load(url: string, signal?: AbortSignal): Promise<CachedCrl> {
    const cached = this.cache.get(url);
    if (cached && cached.expiresAt > this.now()) {
      this.cache.delete(url); // re-insert: Map order is the LRU order
      this.cache.set(url, cached);
      return cached;
    }
    let running = this.inflight.get(url);
    if (!running) {
      running = this.download(url, signal).finally(() => this.inflight.delete(url));
      this.inflight.set(url, running);
    }
    return running;
  }

  private async download(url: string, signal?: AbortSignal): Promise<CachedCrl> {
    const now = this.now();
    const entry: CachedCrl = { expiresAt: now + this.minCacheMs, verified: new Map(), reported: new Set() };
    try {
      const body = await fetchCrl(url, { fetch: this.fetch, timeoutMs: this.timeoutMs, maxBytes: this.maxBytes, ...(signal ? { signal } : {}) });
      let crl: x509.X509Crl;
      try {
        crl = new x509.X509Crl(crlDer(body));
      } catch (error) {
        throw invalid(url, 'it is not a DER or PEM X.509 CRL', 'parse', error);
      }
      entry.crl = crl;
      entry.serials = new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber)));
      const idp = crl.getExtension(IDP);
      if (idp) entry.idp = parseIssuingDistributionPoint(idp.value);
      const next = crl.nextUpdate;
      if (next && next.getTime() < now) entry.stale = invalid(url, `it is stale (nextUpdate ${next.toISOString()} has passed)`, 'stale');
      // Until the CA publishes the next one, within bounds: a CRL updated every few seconds must not be
      // fetched every few seconds, and one valid for a week is still looked at daily.
      const until = crl.nextUpdate?.getTime() ?? now + 3_600_000;
      entry.expiresAt = now + Math.min(this.maxCacheMs, Math.max(this.minCacheMs, until - now));
    } catch (error) {
      entry.error = isCertpilotError(error) ? error : invalid(url, 'its extensions cannot be read', 'parse', error);
      delete entry.crl;
    }
    if (signal?.aborted) return entry; // an aborted download says nothing about the server: do not cache it
    this.cache.set(url, entry);
    while (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    return entry;
  }

  /** Why `entry.crl` is not a CRL this issuer vouches for, or undefined when it is. */
  private async verify(url: string, entry: CachedCrl, issuer: NodeX509): Promise<CertpilotError | undefined> {
    const crl = entry.crl!;
    const ca = new x509.X509Certificate(issuer.raw);
    if (crl.issuer !== ca.subject) return invalid(url, `it was issued by "${crl.issuer}", not by the certificate's issuer "${ca.subject}"`, 'issuer');
    const usage = ca.getExtension(x509.KeyUsagesExtension);
    if (usage && !(usage.usages & x509.KeyUsageFlags.cRLSign)) return invalid(url, `the issuer "${ca.subject}" may not sign CRLs (no cRLSign key usage)`, 'issuer');
    let ok = false;
    try {
      ok = await crl.verify({ publicKey: ca }, provider);
    } catch {
      ok = false;
    }
    if (!ok) return invalid(url, `its signature does not verify with the key of "${ca.subject}"`, 'signature');
    if (crl.getExtension(DELTA_CRL)) return invalid(url, 'it is a delta CRL, which cannot clear a certificate alone', 'scope');
    const idp = entry.idp;
    if (idp?.notForLeaves) return invalid(url, 'it covers CA or attribute certificates only', 'scope');
    if (idp?.indirect) return invalid(url, 'it is an indirect CRL, which is not supported', 'scope');
    // RFC 5280 §6.3.3 (b)(2): the CRL must be for this distribution point, or a CA could be fooled with another shard's CRL.
    if (idp && idp.uris.length > 0 && !idp.uris.includes(url)) return invalid(url, `its issuingDistributionPoint names ${idp.uris.join(', ')}, not this URL`, 'scope');
    if (crl.thisUpdate.getTime() > this.now() + SKEW_MS) return invalid(url, `its thisUpdate ${crl.thisUpdate.toISOString()} is in the future`, 'time');
    return undefined;
  }

  /** Reports `error` once per cached download (so 10,000 certificates on one broken CRL make one report) and answers "cannot tell". */
  private fail(entry: CachedCrl | undefined, error: CertpilotError, certificate: CheckedCertificate): undefined {
    if (entry?.reported.has(error)) return undefined;
    entry?.reported.add(error);
    try {
      this.options.onError?.(error, certificate);
    } catch {
      // A throwing error handler must not turn "cannot tell" into a failed loop pass.
    }
    return undefined;
  }
}

/** The first http(s) URL of a distribution point that covers every reason and is the CA's own (no cRLIssuer). */
function urlOf(leaf: x509.X509Certificate): string | undefined {
  const ext = leaf.getExtension(x509.CRLDistributionPointsExtension);
  for (const point of ext?.distributionPoints ?? []) {
    if (point.reasons || point.cRLIssuer) continue;
    for (const name of point.distributionPoint?.fullName ?? []) {
      const uri = name.uniformResourceIdentifier;
      if (uri && /^https?:\/\//i.test(uri)) return uri;
    }
  }
  return undefined;
}

/** The certificate in `chain` that signed the leaf (its CRL must be signed by the same key). */
function issuerOf(certificate: CheckedCertificate, url: string): Pick<Parsed, 'issuer' | 'issuerError'> {
  try {
    const leaf = new NodeX509(certificate.cert);
    for (const pem of splitCertificates(certificate.chain)) {
      const candidate = new NodeX509(pem);
      if (leaf.checkIssued(candidate) && leaf.verify(candidate.publicKey)) return { issuer: candidate };
    }
  } catch {
    // fall through: an unreadable chain is reported like a missing issuer
  }
  return { issuerError: invalid(url, `the chain of "${certificate.name}" does not hold the certificate that signed it, so its CRL cannot be verified`, 'issuer') };
}
