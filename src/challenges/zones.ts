/**
 * Zone choice: which zone of the DNS provider holds a challenge record.
 *
 * Like lego and certmagic, the provider's own zone list wins when it has one
 * (it is authoritative about what the credentials can edit, and works for
 * split-horizon and not-yet-delegated zones); otherwise we walk up the labels
 * asking for an SOA record, and the first name that has one is the zone cut.
 */
import { ConfigError, DnsError, isCertpilotError, type CertpilotError } from '../errors.js';
import type { DnsProvider } from './provider.js';
import { describeServers, toFqdn, type DnsResolver } from './resolver.js';
import { providerError } from './provider-errors.js';

/** True when `name` equals `zone` or lies below it (both FQDNs). */
export function isInZone(name: string, zone: string): boolean {
  const n = toFqdn(name);
  const z = toFqdn(zone);
  return z === '.' || n === z || n.endsWith(`.${z}`);
}

/**
 * The name of `fqdn` relative to `zone`, as providers take it: `'@'` for the
 * apex, `'_acme-challenge.www'` for `_acme-challenge.www.example.com.` in
 * `example.com.`.
 */
export function relativeName(fqdn: string, zone: string): string {
  const n = toFqdn(fqdn);
  const z = toFqdn(zone);
  if (!isInZone(n, z)) throw new ConfigError('INVALID_OPTIONS', `${n} is not inside zone ${z}`);
  if (n === z) return '@';
  return z === '.' ? n.slice(0, -1) : n.slice(0, -(z.length + 1));
}

/** The FQDN of a zone-relative name (inverse of {@link relativeName}). */
export function absoluteName(name: string, zone: string): string {
  const z = toFqdn(zone);
  if (name === '@' || name === '') return z;
  if (name.endsWith('.')) return toFqdn(name);
  return toFqdn(z === '.' ? name : `${name}.${z}`);
}

/** Options of a {@link ZoneFinder}. */
export interface ZoneFinderOptions {
  provider: DnsProvider;
  resolver: DnsResolver;
  /** Servers for the SOA walk; absent → the system resolver. */
  servers?: readonly string[];
  /** Timeout of each SOA lookup. @default 5000 */
  lookupTimeoutMs?: number;
}

/**
 * Finds the zone that holds a record name and caches the answers for its own
 * lifetime (one per solver): zones move rarely, and a renewal loop would
 * otherwise list zones or walk SOAs for every certificate.
 *
 * @example
 * ```ts
 * const zones = new ZoneFinder({ provider, resolver: new NodeDnsResolver() });
 * await zones.find('_acme-challenge.www.example.com.', { signal, domain: 'www.example.com' }); // 'example.com.'
 * ```
 */
export class ZoneFinder {
  readonly #options: ZoneFinderOptions;
  #listed: { zones: string[]; fresh: boolean } | undefined;
  readonly #walked = new Map<string, string>();

  constructor(options: ZoneFinderOptions) {
    this.#options = options;
  }

  /**
   * The zone (FQDN, trailing dot) that holds `recordName`. `domain` is the
   * requested domain, named in errors so the operator knows which one to fix.
   * Rejects with {@link DnsError} `DNS_ZONE_NOT_FOUND` when no zone fits.
   */
  async find(recordName: string, opts: { signal: AbortSignal; domain: string }): Promise<string> {
    const fqdn = toFqdn(recordName);
    return this.#options.provider.listZones ? this.#fromList(fqdn, opts) : this.#bySoa(fqdn, opts);
  }

  async #fromList(fqdn: string, opts: { signal: AbortSignal; domain: string }): Promise<string> {
    let match = longestSuffix(fqdn, await this.#list(opts.signal, false));
    // A cached list may predate a zone added since; list once more before failing.
    if (!match && this.#listed && !this.#listed.fresh) match = longestSuffix(fqdn, await this.#list(opts.signal, true));
    if (match) return match;
    const { name } = this.#options.provider;
    const zones = this.#listed?.zones ?? [];
    throw new DnsError(
      'DNS_ZONE_NOT_FOUND',
      `No zone of DNS provider ${name} contains ${fqdn} (needed for ${opts.domain}); it manages ${zones.length ? zones.join(', ') : 'no zones'}. ` +
        `Add the zone to the ${name} account (or grant the credentials access to it), or CNAME _acme-challenge.${opts.domain.replace(/^\*\./, '')} to a name in a zone it manages.`,
      { retryable: false, details: { domain: opts.domain, recordName: fqdn, provider: name, zones } },
    );
  }

  async #list(signal: AbortSignal, refresh: boolean): Promise<string[]> {
    if (this.#listed && !refresh) {
      this.#listed.fresh = false;
      return this.#listed.zones;
    }
    const { provider } = this.#options;
    let zones: string[];
    try {
      zones = (await provider.listZones!({ signal })).map(toFqdn);
    } catch (error) {
      throw providerError(provider.name, 'list zones', error, signal);
    }
    this.#listed = { zones, fresh: true };
    return zones;
  }

  async #bySoa(fqdn: string, opts: { signal: AbortSignal; domain: string }): Promise<string> {
    const cached = this.#walked.get(fqdn);
    if (cached) return cached;
    const { resolver, servers, lookupTimeoutMs = 5000 } = this.#options;
    // Walk from the record name itself up to the TLD: a record can live at a zone apex (delegated _acme-challenge zones).
    for (let name = fqdn; name !== '.'; name = parent(name)) {
      let result;
      try {
        result = await resolver.lookup(name, 'SOA', { servers, timeoutMs: lookupTimeoutMs, signal: opts.signal });
      } catch (error) {
        throw soaLookupError(error, fqdn, opts.domain);
      }
      // NODATA and NXDOMAIN both mean "not a zone apex": keep walking up.
      if (result.status === 'answer') {
        this.#walked.set(fqdn, name);
        return name;
      }
    }
    throw new DnsError(
      'DNS_ZONE_NOT_FOUND',
      `No SOA record found for ${fqdn} or any parent at ${describeServers(servers)} (needed for ${opts.domain}). ` +
        `Check that the domain is delegated and that the resolvers option points at servers that answer for it, or use a DNS provider that lists its zones.`,
      { retryable: false, details: { domain: opts.domain, recordName: fqdn, servers: servers ?? [] } },
    );
  }
}

/** The longest zone in `zones` that contains `fqdn`. */
function longestSuffix(fqdn: string, zones: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const zone of zones) {
    if (isInZone(fqdn, zone) && (best === undefined || zone.length > best.length)) best = zone;
  }
  return best;
}

/** `a.b.example.` → `b.example.`; `example.` → `.`. */
function parent(fqdn: string): string {
  const dot = fqdn.indexOf('.');
  const rest = fqdn.slice(dot + 1);
  return rest === '' ? '.' : rest;
}

/** Adds the zone-discovery context (and the usual fix) to a failed SOA lookup. */
function soaLookupError(error: unknown, fqdn: string, domain: string): CertpilotError | unknown {
  if (!isCertpilotError(error) || error.code !== 'DNS_LOOKUP_FAILED') return error;
  const notimp = error.details.reason === 'ENOTIMP';
  return new DnsError(
    'DNS_LOOKUP_FAILED',
    `Could not find the zone of ${fqdn} (for ${domain}): ${error.message}. ` +
      (notimp
        ? 'That server does not answer SOA queries (pebble-challtestsrv does not): give the DNS provider a zone list.'
        : 'Check the resolvers option, or use a DNS provider that lists its zones.'),
    { cause: error, retryable: !notimp, details: { ...error.details, domain, recordName: fqdn } },
  );
}
