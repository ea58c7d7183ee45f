/**
 * The route53 provider against real Route 53. Runs only when
 * CERTPILOT_LIVE_ROUTE53_ZONE names a hosted zone (e.g. `example.com`) and
 * AWS credentials are configured (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY,
 * or AWS_PROFILE, or a web identity token). It writes and removes TXT values
 * at a fresh `_acme-challenge.certpilot-live-….<zone>` name and nothing else
 * (allowed by the least-privilege policy in docs/providers/route53.md).
 */
import { describe, expect, it } from 'vitest';
import { route53 } from '../../providers/route53/index.js';
import { toFqdn } from '../../src/challenges/resolver.js';

const zone = process.env.CERTPILOT_LIVE_ROUTE53_ZONE;
const credentials = !!(process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) || !!process.env.AWS_PROFILE || !!process.env.AWS_WEB_IDENTITY_TOKEN_FILE;
const live = !!zone && credentials;
const title = live
  ? `route53 against real AWS (zone ${zone})`
  : 'route53 against real AWS — skipped: set CERTPILOT_LIVE_ROUTE53_ZONE and AWS credentials (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)';

describe.skipIf(!live)(title, () => {
  it('appends two values at one name, lists them, and deletes them', async () => {
    const fqdnZone = toFqdn(zone!);
    const provider = route53({ pollIntervalMs: 5_000, syncTimeoutMs: 180_000 });
    const signal = AbortSignal.timeout(300_000);
    expect(await provider.listZones!({ signal })).toContain(fqdnZone);

    // Under _acme-challenge, so the least-privilege policy in docs/providers/route53.md allows it.
    const name = `_acme-challenge.certpilot-live-${Date.now().toString(36)}`;
    const records = [
      { type: 'TXT' as const, name, value: 'certpilot-live-one', ttl: 60 },
      { type: 'TXT' as const, name, value: 'certpilot-live-two', ttl: 60 },
    ];
    const { Route53Client, ListHostedZonesByNameCommand, ListResourceRecordSetsCommand } = await import('@aws-sdk/client-route-53');
    const client = new Route53Client({ region: process.env.AWS_REGION ?? 'us-east-1' });
    const zones = await client.send(new ListHostedZonesByNameCommand({ DNSName: fqdnZone }));
    const zoneId = zones.HostedZones?.find((z) => z.Name === fqdnZone && !z.Config?.PrivateZone)?.Id ?? zones.HostedZones?.[0]?.Id;
    const read = async () => {
      const out = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: `${name}.${fqdnZone}`, StartRecordType: 'TXT', MaxItems: 1 }));
      const set = out.ResourceRecordSets?.[0];
      return set?.Name === `${name}.${fqdnZone}` && set.Type === 'TXT' ? (set.ResourceRecords ?? []).map((r) => r.Value).sort() : [];
    };
    try {
      await provider.appendRecords(fqdnZone, [records[0]!], { signal });
      await provider.appendRecords(fqdnZone, [records[1]!], { signal });
      expect(await read()).toEqual(['"certpilot-live-one"', '"certpilot-live-two"']);
      await provider.deleteRecords(fqdnZone, [records[0]!], { signal });
      expect(await read()).toEqual(['"certpilot-live-two"']);
    } finally {
      await provider.deleteRecords(fqdnZone, records, { signal: AbortSignal.timeout(300_000) });
      client.destroy();
    }
    expect(await read()).toEqual([]);
  }, 600_000);
});
