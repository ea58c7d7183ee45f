/**
 * The slice of the Route 53 API the provider uses, on the official AWS SDK
 * (`@aws-sdk/client-route-53`, an optional peer dependency loaded only when
 * the provider is first used), with one retry loop for all of it.
 *
 * The retry loop is ours, not the SDK's: clients we build get
 * `maxAttempts: 1`, because the SDK's waits between attempts ignore the
 * abort signal and its throttling back-off starts at a fixed half second.
 * Route 53 throttles at five requests per second per account and answers
 * `Throttling` or `PriorRequestNotComplete` (both HTTP 400); those are
 * retried here with exponential back-off and jitter, abortably.
 */
import type {
  Change,
  ChangeInfo,
  ListHostedZonesByNameCommandInput,
  ListHostedZonesByNameCommandOutput,
  ListResourceRecordSetsCommandInput,
  ListResourceRecordSetsCommandOutput,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { AbortError, DnsError } from '../../src/errors.js';
import { retryDelay, sleep } from '../../src/sleep.js';
import { isTransient, redact, route53Error } from './errors.js';

/** The SDK module, as `import('@aws-sdk/client-route-53')` returns it. */
export type Route53Sdk = typeof import('@aws-sdk/client-route-53');

/** Loads the SDK module; tests inject one that fails. */
export type SdkLoader = () => Promise<Route53Sdk>;

/** The SDK package this provider needs. */
export const SDK_PACKAGE = '@aws-sdk/client-route-53';

/** Loads the SDK with a plain dynamic import, so bundles without the provider never pull it in. */
export const defaultSdkLoader: SdkLoader = () => import('@aws-sdk/client-route-53');

/** Explicit AWS credentials (an IAM user's access key, or temporary credentials from STS). */
export interface Route53Credentials {
  /** Access key id (`AKIA…`, or `ASIA…` for temporary credentials). */
  accessKeyId: string;
  /** Secret access key. Never logged, never put into an error. */
  secretAccessKey: string;
  /** Session token of temporary credentials. @default none (long-lived keys) */
  sessionToken?: string;
}

/** What {@link Route53Api} needs to build or reuse a client. */
export interface ApiSettings {
  region?: string;
  credentials?: Route53Credentials;
  endpoint?: string;
  client?: Route53Client;
  maxRetries: number;
  /** Secrets to cut out of any message (the explicit credentials). */
  secrets: readonly string[];
}

/** First back-off delay; doubles per attempt up to {@link MAX_BACKOFF_MS}, with jitter. */
const BASE_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;

/** Calls Route 53 with retries; every method takes the caller's abort signal. */
export class Route53Api {
  readonly #sdk: Route53Sdk;
  readonly #client: Route53Client;
  readonly #settings: ApiSettings;

  private constructor(sdk: Route53Sdk, client: Route53Client, settings: ApiSettings) {
    this.#sdk = sdk;
    this.#client = client;
    this.#settings = settings;
  }

  /** Loads the SDK and builds the client (or adopts `settings.client`). */
  static async create(settings: ApiSettings, loader: SdkLoader): Promise<Route53Api> {
    const sdk = await loadSdk(loader, settings.secrets);
    const client = settings.client ?? new sdk.Route53Client({
      // Route 53 is global: the region only picks the partition (aws, aws-cn, aws-us-gov) and the signing scope.
      region: settings.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      maxAttempts: 1,
    });
    return new Route53Api(sdk, client, settings);
  }

  /** One page of hosted zones ordered by name, from `DNSName` (all zones when absent). */
  listHostedZonesByName(input: ListHostedZonesByNameCommandInput, signal: AbortSignal): Promise<ListHostedZonesByNameCommandOutput> {
    return this.#send('ListHostedZonesByName', () => this.#client.send(new this.#sdk.ListHostedZonesByNameCommand(input), { abortSignal: signal }), signal);
  }

  /** One page of record sets from `StartRecordName`/`StartRecordType`. */
  listResourceRecordSets(input: ListResourceRecordSetsCommandInput, signal: AbortSignal): Promise<ListResourceRecordSetsCommandOutput> {
    return this.#send(
      `ListResourceRecordSets in hosted zone ${input.HostedZoneId}`,
      () => this.#client.send(new this.#sdk.ListResourceRecordSetsCommand(input), { abortSignal: signal }),
      signal,
    );
  }

  /** Submits one transactional change batch; resolves to its (usually PENDING) change. */
  async changeResourceRecordSets(hostedZoneId: string, changes: Change[], signal: AbortSignal): Promise<ChangeInfo> {
    const output = await this.#send(
      `ChangeResourceRecordSets in hosted zone ${hostedZoneId}`,
      () => this.#client.send(
        new this.#sdk.ChangeResourceRecordSetsCommand({
          HostedZoneId: hostedZoneId,
          // Shows up in CloudTrail and the console's change history: says who made the change and why.
          ChangeBatch: { Comment: 'certpilot ACME DNS-01 challenge', Changes: changes },
        }),
        { abortSignal: signal },
      ),
      signal,
    );
    if (!output.ChangeInfo?.Id) throw new DnsError('DNS_PROVIDER_ERROR', 'route53: ChangeResourceRecordSets answered without a ChangeInfo.Id', { retryable: true, details: { provider: 'route53' } });
    return output.ChangeInfo;
  }

  /** The status of change `id` (`PENDING` or `INSYNC`). */
  async getChange(id: string, signal: AbortSignal): Promise<ChangeInfo | undefined> {
    const output = await this.#send(`GetChange ${id}`, () => this.#client.send(new this.#sdk.GetChangeCommand({ Id: id }), { abortSignal: signal }), signal);
    return output.ChangeInfo;
  }

  async #send<T>(action: string, call: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const { maxRetries, secrets } = this.#settings;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new AbortError(`route53: ${action} was aborted`, { cause: signal.reason });
      try {
        return await call();
      } catch (error) {
        if (signal.aborted || !isTransient(error) || attempt > maxRetries) throw route53Error(action, error, { signal, secrets, attempts: attempt });
      }
      await sleep(retryDelay(attempt - 1, BASE_BACKOFF_MS, MAX_BACKOFF_MS), signal).catch((error: unknown) => {
        throw new AbortError(`route53: ${action} was aborted`, { cause: (error as { cause?: unknown }).cause });
      });
    }
  }
}

/** Imports the SDK, turning "not installed" into an error that says what to run. */
async function loadSdk(loader: SdkLoader, secrets: readonly string[]): Promise<Route53Sdk> {
  try {
    return await loader();
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown };
    const message = typeof e?.message === 'string' ? e.message : String(error);
    const missing = (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && message.includes(SDK_PACKAGE);
    if (missing) {
      throw new DnsError('DNS_PROVIDER_ERROR', `route53: the AWS SDK is not installed. Run \`npm install ${SDK_PACKAGE}\` (an optional peer dependency of certpilot, needed only by the route53 provider).`, {
        details: { provider: 'route53', package: SDK_PACKAGE },
      });
    }
    throw new DnsError('DNS_PROVIDER_ERROR', `route53: could not load ${SDK_PACKAGE}: ${redact(message, secrets)}. Reinstall it with \`npm install ${SDK_PACKAGE}\`.`, {
      details: { provider: 'route53', package: SDK_PACKAGE },
    });
  }
}
