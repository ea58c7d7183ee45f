/**
 * The google-cloud-dns provider against the real Cloud DNS API. Runs only
 * when GOOGLE_APPLICATION_CREDENTIALS, CERTPILOT_LIVE_GCP_PROJECT and
 * CERTPILOT_LIVE_GCP_ZONE are set (the zone's DNS name, e.g. `example.com`,
 * or its managed zone name). Creates and removes TXT records under
 * `_certpilot-live-*` names only.
 */
import { describe, expect, it } from 'vitest';
import { googleCloudDns } from '../../providers/google-cloud-dns/index.js';
import type { DnsRecord } from '../../src/challenges/provider.js';

const { GOOGLE_APPLICATION_CREDENTIALS: credentialsFile, CERTPILOT_LIVE_GCP_PROJECT: project, CERTPILOT_LIVE_GCP_ZONE: zoneSetting } = process.env;
const live = Boolean(credentialsFile && project && zoneSetting);
const SKIP = 'live Cloud DNS test: set GOOGLE_APPLICATION_CREDENTIALS, CERTPILOT_LIVE_GCP_PROJECT and CERTPILOT_LIVE_GCP_ZONE to run it';

describe('google-cloud-dns (live)', () => {
  it('appends two values at one name, deletes one, then the other', { timeout: 600_000 }, async (ctx) => {
    ctx.skip(!live, SKIP);
    // A setting without a dot is a managed zone name; otherwise a DNS name.
    const managedZone = zoneSetting!.includes('.') ? undefined : zoneSetting!;
    const dns = googleCloudDns({ project: project!, ...(managedZone ? { managedZone } : {}) });
    const signal = AbortSignal.timeout(540_000);
    const zone = managedZone ? (await dns.listZones!({ signal }))[0]! : `${zoneSetting!.replace(/\.$/, '')}.`;
    const name = `_certpilot-live-${Date.now().toString(36)}`;
    const rec = (value: string): DnsRecord => ({ type: 'TXT', name, value, ttl: 60 });
    const a = await dns.appendRecords(zone, [rec('live-a')], { signal });
    try {
      const b = await dns.appendRecords(zone, [rec('live-b')], { signal });
      const deleted = await dns.deleteRecords(zone, a, { signal });
      expect(deleted.map((r) => r.value)).toEqual(['live-a']);
      expect((await dns.deleteRecords(zone, a, { signal })).length).toBe(0); // deleting twice is fine
      expect((await dns.deleteRecords(zone, b, { signal })).map((r) => r.value)).toEqual(['live-b']);
    } finally {
      await dns.deleteRecords(zone, [rec('live-a'), rec('live-b')], { signal: AbortSignal.timeout(120_000) });
    }
  });
});
