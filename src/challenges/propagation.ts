/**
 * Propagation check: wait until every server the CA might ask has every TXT
 * value, so the CA's validation does not race the provider's replication.
 *
 * Servers are asked one at a time (never through a recursive resolver's
 * cache, which could hold a stale negative answer for the TTL of the SOA).
 * Without configured servers we ask the zone's authoritative nameservers,
 * which is what the CA's resolver will end up asking too.
 */
import { sleep as wait } from '../sleep.js';
import { AbortError, DnsError, isCertpilotError } from '../errors.js';
import { describeServers, type DnsResolver } from './resolver.js';

/** One name to check: all `values` must be visible at every one of `servers`. */
export interface PropagationTarget {
  /** FQDN of the TXT record, trailing dot. */
  name: string;
  values: readonly string[];
  /** `'ip:port'` servers to ask. */
  servers: readonly string[];
}

/** Options of {@link waitForPropagation}. */
export interface WaitForPropagationOptions {
  resolver: DnsResolver;
  /** Give up after this long. @default 120000 */
  timeoutMs?: number;
  /** Pause between checks; the first check happens at once. @default 2000 */
  intervalMs?: number;
  /** Bound on each query (also capped by the time left). @default 5000 */
  queryTimeoutMs?: number;
  signal: AbortSignal;
  /** Called once per target as soon as every server has all its values. */
  onPropagated?: (target: PropagationTarget) => void;
}

/**
 * Resolves once every target is visible at all its servers. Rejects with
 * {@link DnsError} `DNS_PROPAGATION_TIMEOUT` (retryable) naming each record
 * and the servers that still lacked it, or with {@link AbortError}.
 *
 * A server that has shown all values is not asked again: a record only
 * disappears if someone deletes it, and re-asking would multiply queries.
 *
 * @example
 * ```ts
 * await waitForPropagation(
 *   [{ name: '_acme-challenge.example.com.', values: ['abc', 'def'], servers: ['127.0.0.1:8053'] }],
 *   { resolver, timeoutMs: 10_000, intervalMs: 500, signal },
 * );
 * ```
 */
export async function waitForPropagation(targets: readonly PropagationTarget[], options: WaitForPropagationOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const intervalMs = options.intervalMs ?? 2000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5000;
  const { resolver, signal } = options;
  const deadline = Date.now() + timeoutMs;
  // Per target: server → why it is not done yet ('' once done).
  const pending = targets.map((target) => new Map(target.servers.map((server) => [server, 'not checked'] as [string, string])));
  const reported = new Set<number>();

  for (;;) {
    if (signal.aborted) throw new AbortError('The DNS propagation check was aborted', { cause: signal.reason });
    const timeout = Math.max(250, Math.min(queryTimeoutMs, deadline - Date.now()));
    await Promise.all(
      targets.flatMap((target, i) =>
        [...pending[i]!.keys()].map(async (server) => {
          const missing = await check(resolver, target, server, timeout, signal);
          if (missing === '') pending[i]!.delete(server);
          else pending[i]!.set(server, missing);
        }),
      ),
    );
    targets.forEach((target, i) => {
      if (pending[i]!.size === 0 && !reported.has(i)) {
        reported.add(i);
        options.onPropagated?.(target);
      }
    });
    if (pending.every((servers) => servers.size === 0)) return;
    const left = deadline - Date.now();
    if (left <= 0) throw timeoutError(targets, pending, timeoutMs);
    await sleep(Math.min(intervalMs, left), signal);
  }
}

/** '' when `server` has every value of `target`, else why not. */
async function check(resolver: DnsResolver, target: PropagationTarget, server: string, timeoutMs: number, signal: AbortSignal): Promise<string> {
  try {
    const result = await resolver.lookup(target.name, 'TXT', { servers: [server], timeoutMs, signal });
    if (result.status === 'nxdomain') return 'name does not exist';
    if (result.status === 'nodata') return 'no TXT record';
    const have = new Set(result.values);
    const missing = target.values.filter((value) => !have.has(value)).length;
    return missing === 0 ? '' : `${missing} of ${target.values.length} values missing`;
  } catch (error) {
    if (isCertpilotError(error) && error.code === 'ABORTED') throw error;
    // A lookup failure is "not visible yet": servers fail transiently while zones reload.
    return isCertpilotError(error) && error.code === 'DNS_LOOKUP_FAILED' ? String(error.details.reason ?? 'lookup failed') : 'lookup failed';
  }
}

function timeoutError(targets: readonly PropagationTarget[], pending: Map<string, string>[], timeoutMs: number): DnsError {
  const parts = targets.flatMap((target, i) => {
    const lacking = [...pending[i]!.entries()];
    return lacking.length === 0 ? [] : [`${target.name} at ${lacking.map(([server, why]) => `${server} (${why})`).join(', ')}`];
  });
  return new DnsError(
    'DNS_PROPAGATION_TIMEOUT',
    `TXT records not visible after ${timeoutMs} ms: ${parts.join('; ')}. ` +
      'Check that the DNS provider publishes to these servers, or raise propagation.timeoutMs.',
    {
      retryable: true,
      details: {
        timeoutMs,
        records: targets.flatMap((target, i) => (pending[i]!.size ? [{ name: target.name, servers: [...pending[i]!.keys()] }] : [])),
      },
    },
  );
}

/** Options of {@link authoritativeServers}. */
export interface AuthoritativeServersOptions {
  resolver: DnsResolver;
  /** Servers for the NS and address lookups; absent → the system resolver. */
  servers?: readonly string[];
  lookupTimeoutMs?: number;
  signal: AbortSignal;
}

/**
 * The `'ip:53'` addresses of the nameservers of `zone`. IPv4 addresses are
 * preferred; IPv6 ones are used only for nameservers without IPv4, because a
 * host without IPv6 routing would otherwise time out on every check.
 * Rejects with `DNS_LOOKUP_FAILED` when no address is found.
 */
export async function authoritativeServers(zone: string, options: AuthoritativeServersOptions): Promise<string[]> {
  const { resolver, servers, signal } = options;
  const timeoutMs = options.lookupTimeoutMs ?? 5000;
  const ns = await resolver.lookup(zone, 'NS', { servers, timeoutMs, signal });
  const hosts = ns.status === 'answer' ? ns.values : [];
  const addresses = await Promise.all(
    hosts.map(async (host) => {
      const v4 = await resolver.lookup(host, 'A', { servers, timeoutMs, signal }).catch(rethrowAbort);
      if (v4?.status === 'answer' && v4.values.length) return v4.values.map((ip) => `${ip}:53`);
      const v6 = await resolver.lookup(host, 'AAAA', { servers, timeoutMs, signal }).catch(rethrowAbort);
      return v6?.status === 'answer' ? v6.values.map((ip) => `[${ip}]:53`) : [];
    }),
  );
  const result = [...new Set(addresses.flat())];
  if (result.length === 0) {
    throw new DnsError(
      'DNS_LOOKUP_FAILED',
      `Found no nameserver addresses for zone ${zone} at ${describeServers(servers)}` +
        (hosts.length ? ` (NS: ${hosts.join(', ')})` : ' (no NS records)') +
        ': set propagation.nameservers to the servers that should have the TXT records.',
      { retryable: true, details: { zone, nameservers: hosts } },
    );
  }
  return result;
}

/** One nameserver without an address should not sink the others; an abort must. */
function rethrowAbort(error: unknown): undefined {
  if (isCertpilotError(error) && error.code === 'ABORTED') throw error;
  return undefined;
}

/** Waits `ms`, rejecting with an AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, signal, undefined, 'DNS propagation check');
}
