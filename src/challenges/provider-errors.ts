/**
 * One place that turns whatever a DNS provider throws into a certpilot error,
 * so every provider failure looks the same to the manager: a {@link DnsError}
 * `DNS_PROVIDER_ERROR` whose message starts with the provider's name (as in
 * lego), holds no secret, and says whether trying again may help.
 */
import { AbortError, DnsError, isCertpilotError, scrub } from '../errors.js';

/** HTTP statuses after which a retry cannot help without a change by a person. */
const PERMANENT_STATUS = new Set([400, 401, 403, 404, 405, 409, 410, 422]);

/**
 * Wraps `error`, thrown by provider `provider` while doing `action` (`'create
 * TXT records in zone example.com.'`). When `signal` has fired, the result is
 * an {@link AbortError} instead: the provider only stopped because we asked.
 *
 * Retryable unless obviously not: the provider said so with a certpilot
 * error, or the error carries a 4xx status other than 408/429 (bad
 * credentials, missing permission, unknown zone — a person must act).
 */
export function providerError(provider: string, action: string, error: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted) {
    return error instanceof AbortError ? error : new AbortError(`${provider}: ${action} was aborted`, { cause: signal.reason });
  }
  if (isCertpilotError(error) && error.code === 'ABORTED') return error;
  const raw = error instanceof Error ? error.message : String(error);
  const detail = scrub(raw).replace(new RegExp(`^${escapeRegExp(provider)}:\\s*`, 'i'), '');
  const status = statusOf(error);
  const retryable = isCertpilotError(error) ? error.retryable : !(status !== undefined && PERMANENT_STATUS.has(status));
  return new DnsError('DNS_PROVIDER_ERROR', `${provider}: could not ${action}: ${detail}`, {
    // The raw error may carry request configuration (headers, tokens); keep a scrubbed copy only.
    cause: isCertpilotError(error) ? error : scrubbedCopy(error, detail),
    retryable,
    details: { provider, action, ...(status !== undefined ? { status } : {}) },
  });
}

/** An HTTP status carried by common error shapes (fetch wrappers, AWS SDK, gaxios). */
function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { status?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: unknown }; response?: { status?: unknown } };
  for (const candidate of [e.status, e.statusCode, e.$metadata?.httpStatusCode, e.response?.status]) {
    if (typeof candidate === 'number' && candidate >= 100 && candidate < 600) return candidate;
  }
  return undefined;
}

function scrubbedCopy(error: unknown, message: string): Error {
  const copy = new Error(message);
  if (error instanceof Error) {
    copy.name = error.name;
    if (error.stack) copy.stack = scrub(error.stack);
  }
  return copy;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
