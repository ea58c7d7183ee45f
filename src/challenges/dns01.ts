/**
 * The DNS-01 solver: turns ACME challenges into TXT records through a
 * {@link DnsProvider}, waits until they are visible, and removes exactly what
 * it created. The provider only edits records; every ACME detail (record
 * name, CNAME following, zone choice, propagation, bookkeeping) lives here,
 * so providers stay small and behave alike.
 */
import { throwIfAborted } from '../errors.js';
import type { DnsProvider, DnsRecord } from './provider.js';
import { followCnames } from './cname.js';
import { authoritativeServers, waitForPropagation, type PropagationTarget } from './propagation.js';
import { providerError } from './provider-errors.js';
import { assertServers, NodeDnsResolver, toFqdn, type DnsResolver } from './resolver.js';
import { relativeName, ZoneFinder } from './zones.js';

/** How the solver decides that records are visible. */
export interface PropagationOptions {
  /** `'host:port'` servers to ask directly for the TXT record; absent → the zone's authoritative nameservers. */
  nameservers?: string[];
  /** Give up after this long. @default 120000 */
  timeoutMs?: number;
  /** Pause between checks; the first check happens at once. @default 2000 */
  intervalMs?: number;
}

/** What the solver reports through `onEvent`. */
export interface Dns01SolverEvent {
  /** Domain as requested (`*.example.com`). */
  domain: string;
  /** FQDN of the TXT record after CNAME following, trailing dot. */
  recordName: string;
  zone: string;
  provider: string;
  /** Present on `failed`. */
  error?: unknown;
}

/** Options of {@link Dns01Solver}. */
export interface Dns01SolverOptions {
  provider: DnsProvider;
  propagation?: PropagationOptions;
  /** TTL of created records, in seconds. @default 60 */
  ttl?: number;
  /** Servers (`'ip:port'`) for SOA, CNAME and NS lookups. @default propagation.nameservers, else the system resolver */
  resolvers?: string[];
  /** Maximum CNAME hops from `_acme-challenge.<domain>`. @default 8 */
  maxCnameHops?: number;
  /** Time allowed to `cleanup()`, which runs on its own signal. @default 120000 (Route 53 can take about a minute to report a change INSYNC) */
  cleanupTimeoutMs?: number;
  /** DNS query layer; tests pass a fake. @default new NodeDnsResolver() */
  resolver?: DnsResolver;
  /** Progress of each challenge. A listener that throws is ignored. */
  onEvent?: (type: 'presented' | 'propagated' | 'cleaned' | 'failed', event: Dns01SolverEvent) => void;
}

/** One DNS-01 challenge to satisfy. */
export interface Dns01Challenge {
  /** Domain as requested, e.g. `'*.example.com'` or `'example.com'`. */
  domain: string;
  /** The TXT value: base64url(SHA-256(key authorization)). */
  keyAuthorizationDigest: string;
}

/** Where one challenge's record went. */
export interface PresentedChallenge {
  domain: string;
  /** FQDN of the TXT record (after CNAME following). */
  recordName: string;
  zone: string;
  value: string;
}

/** The handle `present()` returns and `cleanup()` takes: what was (possibly) created, per zone. */
export interface PresentedChallenges {
  readonly provider: string;
  readonly challenges: readonly PresentedChallenge[];
  /** Records as the provider returned them (with its `providerData`), per zone. */
  readonly zones: readonly { readonly zone: string; readonly records: readonly DnsRecord[] }[];
}

/** Zone groups already deleted: cleanup() may be called twice (present's failure path, then the caller). */
const cleaned = new WeakSet<object>();

/**
 * Solves DNS-01 challenges with one DNS provider.
 *
 * @example
 * ```ts
 * const solver = new Dns01Solver({ provider: challtestsrv({ managementUrl: 'http://127.0.0.1:8055' }),
 *                                  propagation: { nameservers: ['127.0.0.1:8053'] } });
 * const presented = await solver.present([{ domain: '*.example.com', keyAuthorizationDigest: digest }], signal);
 * try { await completeChallenges(); } finally { await solver.cleanup(presented); }
 * ```
 */
export class Dns01Solver {
  readonly #options: Dns01SolverOptions;
  readonly #resolver: DnsResolver;
  readonly #resolvers: string[] | undefined;
  readonly #zones: ZoneFinder;

  constructor(options: Dns01SolverOptions) {
    assertServers(options.propagation?.nameservers, 'propagation.nameservers');
    assertServers(options.resolvers, 'resolvers');
    this.#options = options;
    this.#resolver = options.resolver ?? new NodeDnsResolver();
    this.#resolvers = options.resolvers ?? options.propagation?.nameservers;
    this.#zones = new ZoneFinder({ provider: options.provider, resolver: this.#resolver, servers: this.#resolvers });
  }

  /**
   * Creates every TXT record (one `appendRecords` call per zone), then waits
   * until all are visible. If anything fails or `signal` aborts, removes
   * what it created before rejecting.
   */
  async present(challenges: Dns01Challenge[], signal: AbortSignal): Promise<PresentedChallenges> {
    throwIfAborted(signal, 'DNS-01 challenge');
    const { provider } = this.#options;
    let placed: PresentedChallenge[];
    try {
      placed = await Promise.all(challenges.map((challenge) => this.#place(challenge, signal)));
    } catch (error) {
      // Nothing was created yet; report where each record would have gone as far as we know.
      for (const c of challenges) this.#emit('failed', { domain: c.domain, recordName: challengeName(c.domain), zone: '', value: '' }, error);
      throw error;
    }
    const zones: { zone: string; records: DnsRecord[] }[] = [];
    const handle: PresentedChallenges = { provider: provider.name, challenges: placed, zones };
    try {
      const byZone = new Map<string, DnsRecord[]>();
      for (const { zone, recordName, value } of placed) {
        const records = byZone.get(zone) ?? byZone.set(zone, []).get(zone)!;
        const name = relativeName(recordName, zone);
        // The same domain twice yields the same value: one record serves both.
        if (!records.some((r) => r.name === name && r.value === value)) records.push({ type: 'TXT', name, value, ttl: this.#options.ttl ?? 60 });
      }
      const results = await Promise.allSettled(
        [...byZone].map(async ([zone, records]) => {
          const group = { zone, records };
          try {
            group.records = merge(records, await provider.appendRecords(zone, records, { signal }));
          } catch (error) {
            // A failed call may have created some records: keep all of them for deletion (deleting tolerates absence).
            throw providerError(provider.name, `create TXT records in zone ${zone}`, error, signal);
          } finally {
            zones.push(group);
          }
          for (const c of placed) if (c.zone === zone) this.#emit('presented', c);
        }),
      );
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
      await this.#propagate(placed, signal);
      return handle;
    } catch (error) {
      for (const c of placed) this.#emit('failed', c, error);
      await this.cleanup(handle);
      throw error;
    }
  }

  /**
   * Deletes exactly what `present()` created. Never throws: failures are
   * reported through `onEvent('failed')`. Runs on its own timeout signal, so
   * it works after the caller's signal has aborted.
   */
  async cleanup(presented: PresentedChallenges): Promise<void> {
    const { provider } = this.#options;
    const signal = AbortSignal.timeout(this.#options.cleanupTimeoutMs ?? 120_000);
    await Promise.all(
      presented.zones.map(async (group) => {
        if (cleaned.has(group) || group.records.length === 0) return;
        const mine = presented.challenges.filter((c) => c.zone === group.zone);
        try {
          await provider.deleteRecords(group.zone, [...group.records], { signal });
          cleaned.add(group);
          for (const c of mine) this.#emit('cleaned', c);
        } catch (error) {
          const wrapped = providerError(provider.name, `delete TXT records in zone ${group.zone}`, error);
          for (const c of mine) this.#emit('failed', c, wrapped);
        }
      }),
    );
  }

  /** Record name, CNAME target and zone of one challenge. */
  async #place(challenge: Dns01Challenge, signal: AbortSignal): Promise<PresentedChallenge> {
    const { target } = await followCnames(challengeName(challenge.domain), {
      resolver: this.#resolver,
      servers: this.#resolvers,
      maxHops: this.#options.maxCnameHops ?? 8,
      signal,
    });
    const zone = await this.#zones.find(target, { signal, domain: challenge.domain });
    return { domain: challenge.domain, recordName: target, zone, value: challenge.keyAuthorizationDigest };
  }

  async #propagate(placed: PresentedChallenge[], signal: AbortSignal): Promise<void> {
    const { propagation = {} } = this.#options;
    const serversByZone = new Map<string, string[]>();
    for (const zone of new Set(placed.map((c) => c.zone))) {
      serversByZone.set(
        zone,
        propagation.nameservers ?? (await authoritativeServers(zone, { resolver: this.#resolver, servers: this.#resolvers, signal })),
      );
    }
    const targets = new Map<string, PropagationTarget & { values: string[] }>();
    for (const c of placed) {
      const target = targets.get(c.recordName) ?? { name: c.recordName, values: [], servers: serversByZone.get(c.zone)! };
      if (!target.values.includes(c.value)) target.values.push(c.value);
      targets.set(c.recordName, target);
    }
    await waitForPropagation([...targets.values()], {
      resolver: this.#resolver,
      timeoutMs: propagation.timeoutMs,
      intervalMs: propagation.intervalMs,
      signal,
      onPropagated: (target) => {
        for (const c of placed) if (c.recordName === target.name) this.#emit('propagated', c);
      },
    });
  }

  #emit(type: 'presented' | 'propagated' | 'cleaned' | 'failed', c: PresentedChallenge, error?: unknown): void {
    const event = { domain: c.domain, recordName: c.recordName, zone: c.zone, provider: this.#options.provider.name };
    try {
      this.#options.onEvent?.(type, error === undefined ? event : { ...event, error });
    } catch {
      // A throwing listener must not turn a solved challenge into a failure (or skip cleanup).
    }
  }
}

/**
 * The records to delete later: the provider's answer where it names a record
 * we asked for (it carries `providerData`), our own request otherwise, so a
 * provider that returns less than it created still gets everything deleted.
 */
function merge(requested: DnsRecord[], created: DnsRecord[] | undefined): DnsRecord[] {
  if (!Array.isArray(created)) return requested;
  const extra = created.filter((r) => !requested.some((q) => sameRecord(q, r)));
  return [...requested.map((q) => created.find((r) => sameRecord(q, r)) ?? q), ...extra];
}

function sameRecord(a: DnsRecord, b: DnsRecord): boolean {
  return a.value === b.value && a.name.toLowerCase() === b.name.toLowerCase();
}

/** `_acme-challenge.<domain without *.>.` (RFC 8555 §8.4): a wildcard is validated at its base name. */
export function challengeName(domain: string): string {
  return toFqdn(`_acme-challenge.${domain.trim().replace(/^\*\./, '')}`);
}
