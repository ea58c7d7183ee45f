/**
 * DNS provider for Amazon Route 53, on the official AWS SDK for JavaScript
 * v3 (`@aws-sdk/client-route-53`, an optional peer dependency: install it
 * next to certpilot). The SDK is imported the first time the provider is
 * used, so applications that never use Route 53 never load it.
 *
 * @example
 * ```ts
 * import { route53 } from 'certpilot/providers/route53';
 * const dns = route53(); // default AWS credential chain, hosted zone found by name
 * ```
 */
import type { Route53Client } from '@aws-sdk/client-route-53';
import type { DnsProvider } from '../../src/challenges/provider.js';
import type { Route53Credentials } from './api.js';
import { createRoute53Provider } from './provider.js';

export type { Route53Credentials } from './api.js';

/** Options of {@link route53}. */
export interface Route53Options {
  /**
   * AWS region of the client. Route 53 is a global service: the region only
   * selects the partition (`cn-north-1` for China, `us-gov-west-1` for
   * GovCloud) and the SigV4 signing scope.
   * @default process.env.AWS_REGION, else `'us-east-1'`
   */
  region?: string;
  /**
   * Explicit credentials. Without them the SDK's default credential
   * provider chain applies: environment variables (`AWS_ACCESS_KEY_ID`,
   * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), SSO and shared config
   * files (`AWS_PROFILE`), web identity (EKS IRSA), ECS task roles, then the
   * EC2 instance profile.
   * @default the AWS SDK default credential provider chain
   */
  credentials?: Route53Credentials;
  /**
   * Hosted zone to edit (`Z0123456789ABC` or `/hostedzone/Z0123456789ABC`).
   * Set it when a name has several hosted zones and you want a specific one,
   * or to skip the lookup. `listZones()` then reports only this zone.
   * @default looked up by the zone's name with ListHostedZonesByName; a public zone wins over a private one of the same name
   */
  hostedZoneId?: string;
  /**
   * Route 53 API endpoint (a VPC endpoint, a proxy, or a local fake).
   * @default the SDK's, https://route53.amazonaws.com
   */
  endpoint?: string;
  /**
   * Your own `Route53Client` (custom middleware, HTTP agent, logger). When
   * given, `region`, `credentials` and `endpoint` are ignored, and the
   * client's own retries add to `maxRetries`.
   * @default a client built from the options above, with SDK retries off (the provider retries)
   */
  client?: Route53Client;
  /**
   * Retries of a request that Route 53 throttled (`Throttling`,
   * `PriorRequestNotComplete`) or that failed with a 5xx or a reset
   * connection; also re-reads after a change batch lost a race with another
   * writer. Back-off starts at 200 ms and doubles (with jitter) up to 5 s.
   * @default 5
   */
  maxRetries?: number;
  /**
   * Interval between GetChange calls while waiting for a change to become
   * `INSYNC` (applied on every Route 53 name server).
   * @default 2000
   */
  pollIntervalMs?: number;
  /**
   * Longest wait for a change to become `INSYNC`; then the call fails with a
   * retryable error (the change itself stays submitted).
   * @default 120000
   */
  syncTimeoutMs?: number;
}

/** Facts about this provider, for documentation and tooling. */
export const meta = {
  name: 'route53',
  description: 'Amazon Route 53 through the AWS SDK for JavaScript v3',
  package: '@aws-sdk/client-route-53',
  permissions:
    'route53:ListHostedZonesByName; route53:ListResourceRecordSets, route53:ChangeResourceRecordSets (TXT only, via route53:ChangeResourceRecordSetsRecordTypes) on the hosted zone; route53:GetChange',
  docs: 'docs/providers/route53.md',
} as const;

/**
 * Creates a {@link DnsProvider} that edits TXT records in Amazon Route 53.
 *
 * Route 53 keeps every TXT value of a name in one record set, so the
 * provider reads the set and writes it back whole: appending UPSERTs the
 * old values plus the new ones, deleting UPSERTs the rest (or DELETEs the
 * set, exactly as read, when nothing else remains). Values other programs
 * put at the same name are kept. Changes to one name are serialized inside
 * the provider, and each call waits until its change is `INSYNC`.
 *
 * @example
 * ```ts
 * import { AcmeIssuer } from 'certpilot';
 * import { route53 } from 'certpilot/providers/route53';
 *
 * const issuer = new AcmeIssuer({
 *   directoryUrl: AcmeIssuer.directories.letsEncrypt,
 *   termsOfServiceAgreed: true,
 *   dns: route53({ hostedZoneId: process.env.ROUTE53_ZONE_ID }),
 * });
 * ```
 */
export function route53(options: Route53Options = {}): DnsProvider {
  return createRoute53Provider(options);
}
