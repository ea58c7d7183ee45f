/**
 * The DNS provider contract (after libdns): a provider only edits TXT records
 * in a zone. The core owns every ACME detail — record names and values, zone
 * choice, CNAME following, propagation checks and cleanup.
 */

/** A TXT record, named relative to its zone. */
export interface DnsRecord {
  type: 'TXT';
  /** Name relative to the zone; `'@'` is the apex. */
  name: string;
  /** The TXT value, unquoted. */
  value: string;
  /** Time to live in seconds. */
  ttl: number;
  /** Whatever the provider needs to delete this exact record later (a record id, …). */
  providerData?: unknown;
}

/** Per-call options. */
export interface DnsCallOptions {
  /** Aborts the call; providers must stop waiting when it fires. */
  signal: AbortSignal;
}

/**
 * A DNS provider. Obligations:
 * - `appendRecords` adds values and never clobbers another value at the same
 *   name (apex + wildcard put two TXT values at one name); it resolves to the
 *   records as created (with `providerData` for deletion).
 * - `deleteRecords` removes exactly those values, keeps every other value at
 *   the same name, and tolerates records that are already gone.
 * - Zones are FQDNs with a trailing dot.
 * - Errors name the provider and never contain a token, secret or signature.
 *
 * @example
 * ```ts
 * const provider: DnsProvider = cloudflare({ apiToken });
 * const created = await provider.appendRecords('example.com.', [{ type: 'TXT', name: '_acme-challenge', value: 'x', ttl: 60 }], { signal });
 * await provider.deleteRecords('example.com.', created, { signal });
 * ```
 */
export interface DnsProvider {
  /** The provider's name, equal to its subpath (`cloudflare`). */
  readonly name: string;
  appendRecords(zone: string, records: DnsRecord[], options: DnsCallOptions): Promise<DnsRecord[]>;
  deleteRecords(zone: string, records: DnsRecord[], options: DnsCallOptions): Promise<DnsRecord[]>;
  /** Zones this provider can edit, as FQDNs with a trailing dot. */
  listZones?(options: DnsCallOptions): Promise<string[]>;
}
