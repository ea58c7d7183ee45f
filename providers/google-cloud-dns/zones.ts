/**
 * Which Cloud DNS managed zone holds a DNS zone. Several managed zones may
 * share one DNS name (a public zone and private split-horizon copies for
 * VPCs); ACME servers validate against public DNS, so the public zone wins
 * and private zones are used only when the caller allows them.
 */
import { DnsError, isCertpilotError } from '../../src/errors.js';
import { toFqdn } from '../../src/challenges/resolver.js';
import type { CloudDnsClient, ManagedZone } from './api.js';

/** Old zones have no `visibility`: they predate private zones and are public. */
const isPublic = (zone: ManagedZone) => (zone.visibility ?? 'public') === 'public';

/**
 * Maps DNS zones to managed zone names, caching each answer for the
 * provider's lifetime (zones are created rarely; every challenge would
 * otherwise cost a list call).
 */
export class ManagedZones {
  readonly #api: CloudDnsClient;
  readonly #project: string;
  readonly #fixed: string | undefined;
  readonly #allowPrivate: boolean;
  readonly #cache = new Map<string, Promise<string>>();

  constructor(api: CloudDnsClient, options: { project: string; managedZone?: string; allowPrivateZones: boolean }) {
    this.#api = api;
    this.#project = options.project;
    this.#fixed = options.managedZone;
    this.#allowPrivate = options.allowPrivateZones;
  }

  /** The managed zone name for `zone` (FQDN). */
  async resolve(zone: string, signal: AbortSignal): Promise<string> {
    if (this.#fixed) return this.#fixed;
    const fqdn = toFqdn(zone);
    for (;;) {
      let found = this.#cache.get(fqdn);
      if (!found) {
        found = this.#find(fqdn, signal);
        this.#cache.set(fqdn, found);
        // Failures are not cached: the zone may be created, or the outage may end.
        found.catch(() => { if (this.#cache.get(fqdn) === found) this.#cache.delete(fqdn); });
      }
      try {
        return await found;
      } catch (error) {
        // A lookup shared with a caller who aborted is not our failure: look again.
        if (isCertpilotError(error) && error.code === 'ABORTED' && !signal.aborted) continue;
        throw error;
      }
    }
  }

  /** DNS names (FQDNs) of the zones this provider may write to. */
  async list(signal: AbortSignal): Promise<string[]> {
    if (this.#fixed) return [toFqdn((await this.#api.getManagedZone(this.#fixed, signal)).dnsName)];
    const zones = (await this.#api.listManagedZones({}, signal)).filter((z) => this.#allowPrivate || isPublic(z));
    return [...new Set(zones.map((z) => toFqdn(z.dnsName)))];
  }

  async #find(fqdn: string, signal: AbortSignal): Promise<string> {
    // The dnsName filter is exact; compare again so a server that ignores it cannot mislead us.
    const candidates = (await this.#api.listManagedZones({ dnsName: fqdn }, signal)).filter((z) => toFqdn(z.dnsName) === fqdn);
    const chosen = candidates.find(isPublic) ?? (this.#allowPrivate ? candidates[0] : undefined);
    if (chosen) return chosen.name;
    const privateOnly = candidates.length > 0;
    throw new DnsError(
      'DNS_ZONE_NOT_FOUND',
      privateOnly
        ? `google-cloud-dns: project ${this.#project} has only private managed zones for ${fqdn} (${candidates.map((z) => z.name).join(', ')}); ACME servers cannot see them. Set allowPrivateZones: true for a CA inside the VPC, or managedZone to pick one.`
        : `google-cloud-dns: project ${this.#project} has no managed zone for ${fqdn}. Create it, check the project, or set managedZone.`,
      { details: { provider: 'google-cloud-dns', project: this.#project, zone: fqdn } },
    );
  }
}
