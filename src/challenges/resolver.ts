/**
 * A small DNS query layer. Every DNS-01 step (CNAME following, zone discovery,
 * propagation checks) goes through the {@link DnsResolver} interface, so unit
 * tests pass a table-driven fake and production uses {@link NodeDnsResolver},
 * a thin wrapper over `node:dns` that takes its servers and timeout per call.
 *
 * Why per call: the propagation check must ask one server at a time (to say
 * which server lacks the record), and the process-wide resolver of `node:dns`
 * must never be reconfigured by a library.
 */
import { Resolver } from 'node:dns/promises';
import { AbortError, ConfigError, DnsError } from '../errors.js';

/** The record types the DNS-01 solver asks for. */
export type DnsRecordType = 'TXT' | 'CNAME' | 'SOA' | 'NS' | 'A' | 'AAAA';

/** Options of one lookup. */
export interface DnsLookupOptions {
  /** `'host:port'` (or bare IP, port 53) servers to ask; absent or empty → the system resolver. */
  servers?: readonly string[];
  /** Upper bound on the whole lookup, retries included. @default 5000 */
  timeoutMs?: number;
  /** Cancels the lookup; it then rejects with an {@link AbortError}. */
  signal?: AbortSignal;
}

/**
 * What a lookup found. NODATA (the name exists, but has no record of that
 * type) and NXDOMAIN (the name does not exist) are answers, not failures:
 * the SOA walk and CNAME following branch on them.
 */
export type DnsLookupResult =
  /** Records found. TXT: each record's strings joined; CNAME/NS: FQDNs with a trailing dot; SOA: the primary nameserver; A/AAAA: addresses. */
  | { status: 'answer'; values: string[] }
  | { status: 'nodata' }
  | { status: 'nxdomain' };

/**
 * A DNS query function. Implementations resolve NODATA/NXDOMAIN as results
 * and reject with a {@link DnsError} `DNS_LOOKUP_FAILED` (retryable) for
 * timeouts, SERVFAIL, REFUSED, NOTIMP and unreachable servers, and with an
 * {@link AbortError} when the signal fires.
 *
 * @example
 * ```ts
 * const resolver: DnsResolver = new NodeDnsResolver();
 * const result = await resolver.lookup('_acme-challenge.example.com.', 'TXT', { servers: ['127.0.0.1:8053'] });
 * if (result.status === 'answer') console.log(result.values);
 * ```
 */
export interface DnsResolver {
  lookup(name: string, type: DnsRecordType, options?: DnsLookupOptions): Promise<DnsLookupResult>;
}

/** Lower-case FQDN with exactly one trailing dot (`Example.COM` → `example.com.`). */
export function toFqdn(name: string): string {
  const trimmed = name.trim().toLowerCase().replace(/\.+$/, '');
  return trimmed === '' ? '.' : `${trimmed}.`;
}

/**
 * Throws a {@link ConfigError} `INVALID_OPTIONS` unless every entry is an IP
 * address with an optional port (`127.0.0.1:8053`, `[::1]:53`, `1.1.1.1`).
 * Host names are refused because resolving them would need DNS itself.
 */
export function assertServers(servers: readonly string[] | undefined, option: string): void {
  if (servers === undefined) return;
  if (!Array.isArray(servers) || servers.length === 0) {
    throw new ConfigError('INVALID_OPTIONS', `${option} must be a non-empty array of 'ip:port' strings such as ['127.0.0.1:8053'], or left out`);
  }
  try {
    new Resolver().setServers([...servers]);
  } catch {
    throw new ConfigError(
      'INVALID_OPTIONS',
      `${option} has an invalid entry in ${JSON.stringify(servers)}: use IP addresses with an optional port, such as '127.0.0.1:8053' or '[::1]:53' (host names are not accepted)`,
    );
  }
}

/** node:dns error codes that mean "no such record", mapped to a result. */
const NEGATIVE: Record<string, DnsLookupResult> = {
  ENODATA: { status: 'nodata' },
  ENOTFOUND: { status: 'nxdomain' },
};

/** Why a failed lookup failed, in words an operator understands. */
const REASONS: Record<string, string> = {
  ETIMEOUT: 'timed out',
  ECANCELLED: 'timed out',
  ESERVFAIL: 'answered SERVFAIL',
  EREFUSED: 'answered REFUSED',
  ENOTIMP: 'answered NOTIMP (it does not implement this query type)',
  ECONNREFUSED: 'refused the connection',
  EBADRESP: 'sent a malformed answer',
  EFORMERR: 'answered FORMERR',
};

/** Describes the servers of a lookup for messages. */
export function describeServers(servers: readonly string[] | undefined): string {
  return servers && servers.length > 0 ? servers.join(', ') : 'the system resolver';
}

/**
 * The production {@link DnsResolver}: one `node:dns` `Resolver` per lookup,
 * pointed at the requested servers, bounded by a wall-clock timer and
 * cancelled on abort. Creating a Resolver is cheap (no sockets until the
 * first query), and a private instance is the only way to cancel a single
 * query without cancelling everyone else's.
 *
 * @example
 * ```ts
 * const resolver = new NodeDnsResolver({ tries: 2 });
 * await resolver.lookup('example.com.', 'SOA', { servers: ['127.0.0.1:53'], timeoutMs: 2000 });
 * ```
 */
export class NodeDnsResolver implements DnsResolver {
  readonly #tries: number;

  /** @param options.tries Attempts per server before giving up. @default 2 */
  constructor(options: { tries?: number } = {}) {
    this.#tries = Math.max(1, options.tries ?? 2);
  }

  async lookup(name: string, type: DnsRecordType, options: DnsLookupOptions = {}): Promise<DnsLookupResult> {
    const fqdn = toFqdn(name);
    const timeoutMs = Math.max(1, options.timeoutMs ?? 5000);
    const servers = options.servers && options.servers.length > 0 ? [...options.servers] : undefined;
    const { signal } = options;
    if (signal?.aborted) throw new AbortError(`The DNS lookup of ${fqdn} ${type} was aborted`, { cause: signal.reason });

    // c-ares doubles the timeout per retry; the wall-clock timer below is the real bound.
    const resolver = new Resolver({ timeout: Math.max(1, Math.floor(timeoutMs / (this.#tries + 1))), tries: this.#tries });
    if (servers) resolver.setServers(servers);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; resolver.cancel(); }, timeoutMs);
    const onAbort = () => resolver.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return { status: 'answer', values: await query(resolver, fqdn, type) };
    } catch (error) {
      if (signal?.aborted) throw new AbortError(`The DNS lookup of ${fqdn} ${type} was aborted`, { cause: signal.reason });
      const code = (error as { code?: string }).code ?? 'UNKNOWN';
      const negative = NEGATIVE[code];
      if (negative) return negative;
      const reason = timedOut ? `timed out after ${timeoutMs} ms` : (REASONS[code] ?? `failed (${code})`);
      throw new DnsError('DNS_LOOKUP_FAILED', `DNS lookup of ${fqdn} ${type} at ${describeServers(servers)} ${reason}`, {
        retryable: true,
        details: { name: fqdn, type, servers: servers ?? [], reason: timedOut ? 'ETIMEOUT' : code },
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Runs one query and flattens the answer into strings. */
async function query(resolver: Resolver, fqdn: string, type: DnsRecordType): Promise<string[]> {
  switch (type) {
    case 'TXT':
      // A TXT record is a list of ≤255-byte strings; its value is their concatenation (RFC 7208 §3.3 convention).
      return (await resolver.resolveTxt(fqdn)).map((chunks) => chunks.join(''));
    case 'CNAME':
      return (await resolver.resolveCname(fqdn)).map(toFqdn);
    case 'NS':
      return (await resolver.resolveNs(fqdn)).map(toFqdn);
    case 'SOA':
      return [toFqdn((await resolver.resolveSoa(fqdn)).nsname)];
    case 'A':
      return resolver.resolve4(fqdn);
    case 'AAAA':
      return resolver.resolve6(fqdn);
  }
}
