/**
 * Google API error answers (`{ error: { code, message, errors: [{ reason }],
 * status } }`) turned into certpilot errors. The `reason` is what tells the
 * cases apart (`conditionNotMet`, `alreadyExists`, `rateLimitExceeded`,
 * `forbidden`, …), so it goes into the message and onto the error.
 */
import { DnsError, scrub } from '../../src/errors.js';

/** A failed Cloud DNS API request. */
export class CloudDnsError extends DnsError {
  /** HTTP status of the answer (0 when no answer arrived). */
  readonly status: number;
  /** First `errors[].reason` of the Google error body (`conditionNotMet`, …), when present. */
  readonly reason: string | undefined;

  constructor(message: string, status: number, reason: string | undefined, details: Record<string, unknown>) {
    super('DNS_PROVIDER_ERROR', message, { retryable: isRetryable(status, reason), details: { provider: 'google-cloud-dns', status, ...(reason ? { reason } : {}), ...details } });
    this.status = status;
    this.reason = reason;
  }
}

/** Reasons Google reports with 403 that mean "slow down", not "forbidden". */
const RATE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);

/** Whether the same request may succeed later without anyone changing anything. */
export function isRetryable(status: number, reason?: string): boolean {
  if (status === 0 || status === 408 || status === 429 || status >= 500) return true;
  // Older Google APIs answer 403 to too many requests; 403 quotaExceeded (records per zone) is a hard limit.
  return status === 403 && reason !== undefined && RATE_REASONS.has(reason);
}

/** What an operator should do after common failures. */
function hint(status: number, reason: string | undefined, project: string): string {
  if (status === 401) return ' Check the access token or credentials (an expired token is the usual cause).';
  if (status === 403 && !isRetryable(status, reason)) {
    return reason === 'accessNotConfigured'
      ? ` Enable the Cloud DNS API in project ${project}.`
      : ` Grant the credentials the Cloud DNS permissions listed in docs/providers/google-cloud-dns.md on project ${project}.`;
  }
  if (status === 404) return ` Check the project (${project}) and the managed zone name.`;
  return '';
}

/**
 * Reads a failed response into a {@link CloudDnsError}. `redact` removes the
 * bearer token should a server ever echo it; `scrub` catches the rest.
 */
export async function errorFromResponse(
  response: Response,
  what: string,
  context: { project: string; redact: (text: string) => string; details?: Record<string, unknown> },
): Promise<CloudDnsError> {
  const text = await response.text().catch(() => '');
  let reason: string | undefined;
  let message = '';
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown; status?: unknown; errors?: { reason?: unknown }[] } };
    const first = body.error?.errors?.[0]?.reason;
    reason = typeof first === 'string' ? first : typeof body.error?.status === 'string' ? body.error.status : undefined;
    message = typeof body.error?.message === 'string' ? body.error.message : '';
  } catch {
    message = text; // not JSON: a proxy or load balancer answered
  }
  message = scrub(context.redact(message.trim().replace(/\s+/g, ' ').slice(0, 300)));
  const status = response.status;
  return new CloudDnsError(
    `google-cloud-dns: ${what} answered ${status}${reason ? ` ${reason}` : ''}${message ? `: ${message}` : ''}.${hint(status, reason, context.project)}`,
    status,
    reason,
    context.details ?? {},
  );
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds from now. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
