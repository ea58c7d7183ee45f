/**
 * Turns what the AWS SDK throws into certpilot errors. Route 53 answers
 * errors as `<ErrorResponse><Error><Code>…</Code><Message>…</Message></Error>`
 * (HTTP 400 even for throttling); the SDK raises them with `name` = the code
 * and `$metadata.httpStatusCode`. Messages start with `route53:`, name the
 * AWS error code, and never hold a secret: the SigV4 secret never travels,
 * but AWS echoes the canonical request (with the session token header) in
 * `SignatureDoesNotMatch`, so that part is cut and the rest scrubbed.
 */
import { AbortError, DnsError, isCertpilotError, scrub } from '../../src/errors.js';

/** Codes after which the same request succeeds if sent again later. */
const TRANSIENT_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** Socket-level failures worth one more try (a refused connection is not: nothing listens). */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNABORTED']);

/** Codes a person must act on (credentials, permissions, a wrong zone id). */
const CREDENTIAL_CODES = new Set(['CredentialsProviderError', 'InvalidClientTokenId', 'UnrecognizedClientException', 'SignatureDoesNotMatch', 'ExpiredToken', 'ExpiredTokenException', 'IncompleteSignature', 'MissingAuthenticationToken']);

/** What we know about a failed SDK call. */
export interface AwsFailure {
  /** The AWS error code (`Throttling`), or the JS error name. */
  code: string;
  status: number | undefined;
  message: string;
}

/** Reads code, HTTP status and message from an SDK error. */
export function describeAwsError(error: unknown): AwsFailure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown; Code?: unknown; code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: unknown };
  };
  const code = [e.Code, e.name, e.code].find((c): c is string => typeof c === 'string' && c !== '' && c !== 'Error') ?? 'Error';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const message = typeof e.message === 'string' ? e.message : String(error);
  return { code, status, message };
}

/** True when sending the same request again later can succeed. */
export function isTransient(error: unknown): boolean {
  const { code, status } = describeAwsError(error);
  if (TRANSIENT_CODES.has(code) || (status !== undefined && (status >= 500 || status === 429))) return true;
  const socket = (error as { code?: unknown; cause?: { code?: unknown } } | null);
  const socketCode = typeof socket?.code === 'string' ? socket.code : typeof socket?.cause?.code === 'string' ? socket.cause.code : undefined;
  return socketCode !== undefined && TRANSIENT_SOCKET_CODES.has(socketCode);
}

/**
 * Removes every known secret from `text`, then anything that looks like one.
 * `secrets` are the explicit credentials the provider was given.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  // AWS's SignatureDoesNotMatch message continues with the canonical request and string to sign.
  const canonical = out.search(/The Canonical String for this request|The String-to-Sign should have been/i);
  if (canonical !== -1) out = `${out.slice(0, canonical).trimEnd()} [canonical request omitted]`;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return scrub(out).replace(/(Signature=|Credential=)[^\s,"'<]+/g, '$1[redacted]');
}

/**
 * The certpilot error for a failed call `action` (`'ChangeResourceRecordSets
 * in hosted zone Z1…'`). When `signal` has fired it is an {@link AbortError}.
 */
export function route53Error(action: string, error: unknown, options: { signal?: AbortSignal; secrets: readonly string[]; attempts?: number }): Error {
  if (options.signal?.aborted) {
    return error instanceof AbortError ? error : new AbortError(`route53: ${action} was aborted`, { cause: options.signal.reason });
  }
  if (isCertpilotError(error)) return error;
  const { code, status, message } = describeAwsError(error);
  const detail = redact(message, options.secrets).slice(0, 500);
  const tries = options.attempts && options.attempts > 1 ? ` (after ${options.attempts} attempts)` : '';
  const hint = CREDENTIAL_CODES.has(code)
    ? ' Check the AWS credentials: pass `credentials`, or configure the default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity or instance role).'
    : code === 'AccessDenied' || code === 'AccessDeniedException'
      ? ' Grant the permissions listed in docs/providers/route53.md.'
      : '';
  const copy = new Error(`${code}: ${detail}`);
  copy.name = code;
  return new DnsError('DNS_PROVIDER_ERROR', `route53: ${action} failed: ${code}${status ? ` (HTTP ${status})` : ''}: ${detail}${tries}.${hint}`, {
    // Never the SDK error itself: it carries the request and response objects.
    cause: copy,
    retryable: isTransient(error),
    details: { provider: 'route53', awsCode: code, ...(status !== undefined ? { status } : {}) },
  });
}
