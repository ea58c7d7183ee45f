/**
 * CNAME following for `_acme-challenge` names.
 *
 * Delegating validation with a CNAME (`_acme-challenge.example.com CNAME
 * example.com.acme.other-zone.net`) is how operators keep DNS credentials
 * for their main zone out of the certificate machinery. CAs follow the
 * chain when they validate, so the TXT record must be created at its end.
 */
import { DnsError } from '../errors.js';
import { toFqdn, type DnsResolver } from './resolver.js';

/** Options of {@link followCnames}. */
export interface FollowCnamesOptions {
  resolver: DnsResolver;
  /** Servers to ask; absent → the system resolver. */
  servers?: readonly string[];
  /** Maximum number of CNAME hops. @default 8 */
  maxHops?: number;
  /** Timeout of each lookup. @default 5000 */
  lookupTimeoutMs?: number;
  signal: AbortSignal;
}

/** Where a name leads. */
export interface CnameResolution {
  /** The name the TXT record belongs at: the end of the chain (the input when there is no CNAME). */
  target: string;
  /** Every name visited, the input first and `target` last. */
  chain: string[];
}

/**
 * Follows the CNAME chain that starts at `name`, one hop per query (asking
 * for the CNAME type returns only the record at that name, never a resolver's
 * flattened chain, so loops stay visible).
 *
 * Rejects with {@link DnsError} `DNS_CNAME_LOOP` when a name repeats or the
 * chain is longer than `maxHops`, naming the whole chain. Lookup failures
 * propagate as `DNS_LOOKUP_FAILED`: guessing "no CNAME" on a SERVFAIL would
 * put the record where the CA will not look.
 *
 * @example
 * ```ts
 * const { target } = await followCnames('_acme-challenge.example.com.', { resolver, signal });
 * // 'example.com.acme.other-zone.net.' when delegated, else the input
 * ```
 */
export async function followCnames(name: string, options: FollowCnamesOptions): Promise<CnameResolution> {
  const maxHops = options.maxHops ?? 8;
  const chain = [toFqdn(name)];
  const seen = new Set(chain);
  for (;;) {
    const current = chain[chain.length - 1]!;
    const result = await options.resolver.lookup(current, 'CNAME', {
      servers: options.servers,
      timeoutMs: options.lookupTimeoutMs ?? 5000,
      signal: options.signal,
    });
    // NODATA/NXDOMAIN: the chain ends here. (A dangling CNAME ends at a name
    // that does not exist yet, which is fine: the record is created there.)
    if (result.status !== 'answer' || result.values.length === 0) return { target: current, chain };
    const next = toFqdn(result.values[0]!);
    if (seen.has(next)) {
      throw cnameError(`CNAME loop at ${chain[0]}: ${[...chain, next].join(' → ')}`, chain, next, maxHops);
    }
    chain.push(next);
    seen.add(next);
    if (chain.length - 1 > maxHops) {
      throw cnameError(`CNAME chain from ${chain[0]} is longer than ${maxHops} hops: ${chain.join(' → ')} → …`, chain, undefined, maxHops);
    }
  }
}

function cnameError(summary: string, chain: string[], repeated: string | undefined, maxHops: number): DnsError {
  return new DnsError(
    'DNS_CNAME_LOOP',
    `${summary}. Fix the CNAME records so the chain ends at a name that can hold the TXT record` +
      (repeated ? '' : ', or raise maxCnameHops'),
    { retryable: false, details: { chain: repeated ? [...chain, repeated] : [...chain], maxHops } },
  );
}
