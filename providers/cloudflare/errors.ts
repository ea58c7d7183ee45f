/**
 * Errors of the Cloudflare provider: one {@link CloudflareApiError} type
 * (a `DnsError` with code `DNS_PROVIDER_ERROR`) whose message starts with
 * `cloudflare:`, carries Cloudflare's own codes and messages (scrubbed), and
 * for a refused token names the option that holds it (`apiToken` or
 * `zoneToken`) and the permission it lacks — never the token itself.
 */
import { AbortError, DnsError, scrub, type CertpilotErrorOptions } from '../../src/errors.js';

/** Which of the provider's options holds the token a request is sent with (named in errors, never the token). */
export type TokenRole = 'apiToken' | 'zoneToken';

/** The permission a request needs, as Cloudflare's token editor names it. */
export type Permission = 'Zone:Read' | 'DNS:Edit';

/** One entry of the envelope's `errors` (with the nested `error_chain` Cloudflare sometimes adds). */
export interface CloudflareApiMessage {
  code?: number;
  message?: string;
  error_chain?: CloudflareApiMessage[];
}

/** The response envelope every v4 endpoint answers with. */
export interface Envelope {
  success?: boolean;
  errors?: CloudflareApiMessage[];
  result?: unknown;
  result_info?: { page?: number; per_page?: number; total_pages?: number; count?: number; total_count?: number };
}

/** Cloudflare error codes the provider treats as answers rather than failures. */
export const CODES = {
  /** 401/403 "Authentication error": the token is unknown or lacks the permission. */
  authentication: 10000,
  /** "Invalid request headers" (a malformed Authorization header). */
  invalidHeaders: 6003,
  /** "An identical record already exists." */
  identicalRecord: 81058,
  /** "Record does not exist." */
  recordMissing: 81044,
  /** "Could not route to /zones/…, perhaps your object identifier is invalid?" (an unknown zone id). */
  invalidIdentifier: 7003,
} as const;

/** A failed Cloudflare API call: a {@link DnsError} `DNS_PROVIDER_ERROR` with the HTTP status and Cloudflare's codes. */
export class CloudflareApiError extends DnsError {
  /** HTTP status, when the API answered. */
  readonly status: number | undefined;
  /** Cloudflare error codes of the answer (`errors[].code`, nested chains included). */
  readonly cloudflareCodes: number[];

  constructor(message: string, options: CertpilotErrorOptions & { status?: number; cloudflareCodes?: number[] }) {
    super('DNS_PROVIDER_ERROR', message, options);
    this.status = options.status;
    this.cloudflareCodes = options.cloudflareCodes ?? [];
  }
}

/** One API call, as the error messages describe it. */
export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  role: TokenRole;
  permission: Permission;
  /** What we were doing, for messages: `create TXT record _acme-challenge.example.com`. */
  action: string;
}

/** Turns a non-success answer into an error that says what to fix. */
export function apiError(call: Call, status: number, envelope: Envelope | undefined, secrets: string[]): CloudflareApiError {
  const messages = envelope?.errors ?? [];
  const codes = flatten(messages).map((m) => m.code).filter((c): c is number => typeof c === 'number');
  const described = messages.length ? messages.map(describeMessage).join('; ') : envelope ? 'no error details' : 'the body is not a Cloudflare API answer';
  const what = redact(described, secrets);
  const retryable = status === 429 || status >= 500;
  const refused = status === 401 || status === 403 || codes.includes(CODES.authentication) || codes.includes(CODES.invalidHeaders);
  // Only Cloudflare's words are scrubbed: ours never hold a secret. The wording keeps
  // "apiToken"/"zoneToken" away from a following word, so scrub() further up leaves it intact.
  const base = `cloudflare: ${call.action} failed: HTTP ${status}: ${what}`;
  const text = refused
    ? `cloudflare: ${call.action} failed: Cloudflare refused the ${call.role}. HTTP ${status}: ${what}. ${permissionHint(call)}`
    : codes.includes(CODES.invalidIdentifier)
      ? `${base}. Cloudflare knows no zone with that id: if zoneId is set, check it (the Zone ID on the zone's Overview page); an id that was looked up is looked up again on the next call.`
      : base;
  return new CloudflareApiError(text, {
    status,
    cloudflareCodes: codes,
    retryable,
    details: { provider: 'cloudflare', action: call.action, status, codes },
  });
}

/** Which permission the refused token needs, and the alternatives. */
function permissionHint(call: Call): string {
  if (call.permission === 'Zone:Read') {
    const grant = call.role === 'zoneToken' ? 'grant it to the zoneToken' : 'grant it to the apiToken, or to a separate zoneToken';
    return `Finding the zone's id needs the Zone:Read permission on that zone (dashboard: Zone → Zone → Read): ${grant}, or pass zoneId to skip the lookup.`;
  }
  return 'Editing TXT records needs the DNS:Edit permission on the zone (dashboard: Zone → DNS → Edit, with the zone under Zone Resources): grant it to the apiToken.';
}

function describeMessage(message: CloudflareApiMessage): string {
  const head = [message.code, message.message].filter((p) => p !== undefined && p !== '').join(' ');
  const chain = message.error_chain?.length ? ` (${message.error_chain.map(describeMessage).join('; ')})` : '';
  return `${head || 'unknown error'}${chain}`;
}

function flatten(messages: CloudflareApiMessage[]): CloudflareApiMessage[] {
  return messages.flatMap((m) => [m, ...flatten(m.error_chain ?? [])]);
}

/** The {@link AbortError} (code `ABORTED`) for a call stopped by its signal. */
export function aborted(call: Call, signal: AbortSignal): AbortError {
  return new AbortError(`cloudflare: ${call.action} was aborted`, { cause: signal.reason });
}

/** A copy of `error` with a note appended to its message (why we stopped retrying). */
export function withNote(error: CloudflareApiError, note: string): CloudflareApiError {
  return new CloudflareApiError(`${error.message} (${note})`, {
    status: error.status,
    cloudflareCodes: error.cloudflareCodes,
    retryable: error.retryable,
    details: error.details,
  });
}

/** fetch() hides the socket error in `cause` (ECONNREFUSED, …): surface it. */
export function describeFetchError(error: unknown, secrets: string[]): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  return redact(cause?.message ?? (error instanceof Error ? error.message : String(error)), secrets);
}

/**
 * {@link scrub}, and the tokens in use removed outright: a proxy or an error
 * page may echo a request header, and a short token escapes scrub's patterns.
 */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return scrub(out);
}
