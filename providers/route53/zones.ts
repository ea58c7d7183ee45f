/**
 * Which hosted zone to edit. Route 53 allows several hosted zones with one
 * name — typically a public zone and a private (VPC) zone for split-horizon
 * DNS. ACME validation happens on the public internet, so when both exist
 * the public one is edited; a private zone is used only when it is the only
 * zone with that name (a private CA that resolves inside the VPC).
 */
import type { HostedZone } from '@aws-sdk/client-route-53';
import { DnsError } from '../../src/errors.js';
import type { Route53Api } from './api.js';
import { decodeRecordName } from './txt.js';

/** `/hostedzone/Z123` or `Z123` → `Z123` (the SDK accepts both; messages show the short form). */
export function shortZoneId(id: string): string {
  return id.replace(/^\/?hostedzone\//, '');
}

/** Zone lookups, cached for the provider's lifetime (zone ids never change; a deleted zone fails loudly). */
export class HostedZones {
  readonly #api: () => Promise<Route53Api>;
  readonly #fixedId: string | undefined;
  readonly #ids = new Map<string, string>();
  #fixedName: string | undefined;

  /** `hostedZoneId`, when given, is used for every zone name. */
  constructor(api: () => Promise<Route53Api>, hostedZoneId: string | undefined) {
    this.#api = api;
    this.#fixedId = hostedZoneId === undefined ? undefined : shortZoneId(hostedZoneId);
  }

  /** The id of the hosted zone named `zone` (FQDN, trailing dot). */
  async idFor(zone: string, signal: AbortSignal): Promise<string> {
    if (this.#fixedId) return this.#fixedId;
    const name = decodeRecordName(zone);
    const cached = this.#ids.get(name);
    if (cached) return cached;
    const api = await this.#api();
    const candidates: HostedZone[] = [];
    let page: { DNSName?: string; HostedZoneId?: string } = { DNSName: name };
    // Zones come sorted by name; same-named zones may straddle a page boundary.
    for (;;) {
      const out = await api.listHostedZonesByName(page, signal);
      const zones = out.HostedZones ?? [];
      for (const z of zones) if (z.Name && decodeRecordName(z.Name) === name) candidates.push(z);
      const last = zones.at(-1);
      if (!out.IsTruncated || !out.NextDNSName || (last?.Name && decodeRecordName(last.Name) !== name)) break;
      page = { DNSName: out.NextDNSName, HostedZoneId: out.NextHostedZoneId };
    }
    const chosen = candidates.find((z) => !z.Config?.PrivateZone) ?? candidates[0];
    if (!chosen?.Id) {
      throw new DnsError('DNS_ZONE_NOT_FOUND', `route53: no hosted zone named ${name} is visible to these credentials. Create it, grant route53:ListHostedZonesByName, or pass hostedZoneId.`, {
        details: { provider: 'route53', zone: name },
      });
    }
    const id = shortZoneId(chosen.Id);
    this.#ids.set(name, id);
    return id;
  }

  /** Names of every hosted zone (or of the one `hostedZoneId` names), FQDNs with trailing dot. */
  async list(signal: AbortSignal): Promise<string[]> {
    const api = await this.#api();
    if (this.#fixedId) return [await this.#nameOfFixed(api, signal)];
    const names = new Set<string>();
    let page: { DNSName?: string; HostedZoneId?: string } = {};
    // ListHostedZonesByName without a name lists every zone, and needs only the permission the lookup needs anyway.
    for (;;) {
      const out = await api.listHostedZonesByName(page, signal);
      for (const z of out.HostedZones ?? []) if (z.Name) names.add(decodeRecordName(z.Name));
      if (!out.IsTruncated || !out.NextDNSName) break;
      page = { DNSName: out.NextDNSName, HostedZoneId: out.NextHostedZoneId };
    }
    return [...names];
  }

  /**
   * The name of the fixed zone, without route53:GetHostedZone: record sets
   * are listed with labels reversed (`com.example.`, `com.example.www.`), so
   * the first one is at the apex (its SOA and NS always exist).
   */
  async #nameOfFixed(api: Route53Api, signal: AbortSignal): Promise<string> {
    if (this.#fixedName) return this.#fixedName;
    const out = await api.listResourceRecordSets({ HostedZoneId: this.#fixedId, MaxItems: 1 }, signal);
    const apex = out.ResourceRecordSets?.[0]?.Name;
    if (!apex) throw new DnsError('DNS_ZONE_NOT_FOUND', `route53: hosted zone ${this.#fixedId} has no records, not even SOA and NS; check hostedZoneId`, { details: { provider: 'route53', hostedZoneId: this.#fixedId } });
    this.#fixedName = decodeRecordName(apex);
    return this.#fixedName;
  }
}
