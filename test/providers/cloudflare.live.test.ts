/**
 * The Cloudflare provider against the real API. Runs only when
 * CLOUDFLARE_API_TOKEN (Zone:Read + DNS:Edit) and CERTPILOT_LIVE_ZONE (a
 * zone that token can edit, e.g. `example.com`) are set; it creates and
 * deletes TXT records under `_certpilot-live-*.<zone>` and checks them
 * through the API (no DNS lookups, so it does not wait for Cloudflare's
 * edge).
 */
import { describe, expect, it } from 'vitest';
import { cloudflare } from '../../providers/cloudflare/index.js';
import { CloudflareClient } from '../../providers/cloudflare/api.js';
import { unquoteTxt } from '../../providers/cloudflare/txt.js';

const token = process.env.CLOUDFLARE_API_TOKEN;
const zoneName = process.env.CERTPILOT_LIVE_ZONE?.replace(/\.+$/, '').toLowerCase();
const SKIP = 'live Cloudflare API test: set CLOUDFLARE_API_TOKEN and CERTPILOT_LIVE_ZONE to run it';

describe('cloudflare (live API)', () => {
  it('lists the zone, appends two values at one name, deletes one, then the other', async (ctx) => {
    ctx.skip(!token || !zoneName, SKIP);
    const signal = AbortSignal.timeout(60_000);
    const provider = cloudflare({ apiToken: token! });
    const zone = `${zoneName}.`;
    expect(await provider.listZones!({ signal })).toContain(zone);

    const api = new CloudflareClient({ apiToken: token! });
    const [found] = await api.listZones(signal, zoneName);
    const name = `_certpilot-live-${Date.now().toString(36)}`;
    const fqdn = `${name}.${zoneName}`;
    const values = async () => {
      const all = [];
      for (const value of ['live-one', 'live-two']) all.push(...(await api.listTxtRecords(found!.id, fqdn, `"${value}"`, signal)));
      return all.map((r) => unquoteTxt(r.content)).sort();
    };

    const created = await provider.appendRecords(zone, [{ type: 'TXT', name, value: 'live-one', ttl: 60 }, { type: 'TXT', name, value: 'live-two', ttl: 60 }], { signal });
    try {
      expect(await values()).toEqual(['live-one', 'live-two']);
      // Appending the same value again is tolerated (81058) and yields the same record.
      const again = await provider.appendRecords(zone, [created[0]!], { signal });
      expect(again[0]!.providerData).toEqual(created[0]!.providerData);
      await provider.deleteRecords(zone, [created[0]!], { signal });
      expect(await values()).toEqual(['live-two']);
    } finally {
      await provider.deleteRecords(zone, created, { signal });
    }
    expect(await values()).toEqual([]);
  });
});
