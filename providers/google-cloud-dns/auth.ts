/**
 * Access tokens for the Cloud DNS API. An `accessToken` from the caller wins
 * (no SDK needed); otherwise google-auth-library, an optional peer
 * dependency, is imported on first use and mints tokens from the given
 * service-account key or from Application Default Credentials. It caches
 * and refreshes tokens itself, so asking it before every request is cheap.
 */
import { ConfigError, DnsError, isCertpilotError, scrub } from '../../src/errors.js';

/** OAuth scope for reading and changing Cloud DNS records (narrower than `cloud-platform`). */
export const CLOUD_DNS_SCOPE = 'https://www.googleapis.com/auth/ndev.clouddns.readwrite';

/** Returns a current OAuth 2 access token. */
export type AccessTokenSource = () => Promise<string>;

/**
 * The part of google-auth-library this provider uses. Typed structurally so
 * the published types do not require the package to be installed.
 */
export interface GoogleAuthModule {
  GoogleAuth: new (options: { scopes: string[]; projectId?: string; credentials?: Record<string, unknown> }) => {
    getAccessToken(): Promise<string | null | undefined>;
  };
}

/** Imports google-auth-library (tests inject a loader that fails). */
export type GoogleAuthLoader = () => Promise<GoogleAuthModule>;

/** Where tokens come from (the subset of the provider options that matters here). */
export interface TokenOptions {
  /** Given to google-auth-library so it never looks the project up (a network call ADC makes otherwise). */
  project?: string;
  /** A token, or a function that returns a current one. */
  accessToken?: string | (() => Promise<string> | string);
  /** Service-account key: the parsed JSON object or its text. */
  credentials?: Record<string, unknown> | string;
}

const defaultLoader: GoogleAuthLoader = async () => {
  const mod = (await import('google-auth-library')) as unknown as GoogleAuthModule & { default?: GoogleAuthModule };
  // Node's CommonJS interop exposes named exports; fall back to `default` for bundlers that do not.
  return mod.GoogleAuth ? mod : (mod.default as GoogleAuthModule);
};

/**
 * A token source for `options`. Fails fast on malformed options; SDK and
 * credential problems surface on the first call, as {@link DnsError}s that
 * say how to fix them and never contain key material.
 *
 * @example
 * ```ts
 * const token = tokenSource({ accessToken: async () => myCache.get() });
 * const bearer = await token();
 * ```
 */
export function tokenSource(options: TokenOptions, load: GoogleAuthLoader = defaultLoader): AccessTokenSource {
  const { accessToken } = options;
  if (typeof accessToken === 'string') {
    if (!accessToken) throw new ConfigError('INVALID_OPTIONS', 'google-cloud-dns: accessToken is an empty string');
    return async () => accessToken;
  }
  if (typeof accessToken === 'function') return () => fromFunction(accessToken);
  if (accessToken !== undefined) throw new ConfigError('INVALID_OPTIONS', 'google-cloud-dns: accessToken must be a string or a function returning one');

  const credentials = parseCredentials(options.credentials);
  const source = credentials ? 'the service-account credentials' : 'Application Default Credentials';
  let client: Promise<InstanceType<GoogleAuthModule['GoogleAuth']>> | undefined;
  return async () => {
    // Cached on success only, so installing the package fixes a running process's next attempt.
    client ??= createClient(load, credentials, options.project).catch((error: unknown) => { client = undefined; throw error; });
    const auth = await client;
    let token: string | null | undefined;
    try {
      token = await auth.getAccessToken();
    } catch (error) {
      const detail = scrub(error instanceof Error ? error.message : String(error));
      const missing = /could not load the default credentials/i.test(detail);
      throw new DnsError(
        'DNS_PROVIDER_ERROR',
        `google-cloud-dns: could not get an access token from ${source}: ${detail}` +
          (missing ? '. Set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or pass credentials or accessToken.' : ''),
        { retryable: !missing, details: { provider: 'google-cloud-dns' } },
      );
    }
    if (!token) throw new DnsError('DNS_PROVIDER_ERROR', `google-cloud-dns: ${source} returned no access token`, { retryable: true, details: { provider: 'google-cloud-dns' } });
    return token;
  };
}

async function fromFunction(fn: () => Promise<string> | string): Promise<string> {
  let token: unknown;
  try {
    token = await fn();
  } catch (error) {
    if (isCertpilotError(error)) throw error;
    const detail = scrub(error instanceof Error ? error.message : String(error));
    throw new DnsError('DNS_PROVIDER_ERROR', `google-cloud-dns: the accessToken function failed: ${detail}`, { retryable: true, details: { provider: 'google-cloud-dns' } });
  }
  if (typeof token !== 'string' || !token) {
    throw new DnsError('DNS_PROVIDER_ERROR', 'google-cloud-dns: the accessToken function returned no token (expected a non-empty string)', { details: { provider: 'google-cloud-dns' } });
  }
  return token;
}

function parseCredentials(credentials: TokenOptions['credentials']): Record<string, unknown> | undefined {
  if (credentials === undefined) return undefined;
  if (typeof credentials === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(credentials);
    } catch {
      // Never echo the text: it holds a private key.
      throw new ConfigError('INVALID_OPTIONS', 'google-cloud-dns: credentials is not valid JSON; pass the service-account key file contents or the parsed object');
    }
    return parseCredentials(parsed as Record<string, unknown>);
  }
  if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials)) {
    throw new ConfigError('INVALID_OPTIONS', 'google-cloud-dns: credentials must be a service-account key (object or JSON text)');
  }
  return credentials;
}

async function createClient(load: GoogleAuthLoader, credentials: Record<string, unknown> | undefined, projectId: string | undefined) {
  let mod: GoogleAuthModule;
  try {
    mod = await load();
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    const notInstalled = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new DnsError(
      'DNS_PROVIDER_ERROR',
      notInstalled
        ? 'google-cloud-dns: google-auth-library is not installed; it is needed for credentials and Application Default Credentials. Run `npm install google-auth-library`, or pass accessToken.'
        : `google-cloud-dns: could not load google-auth-library: ${scrub(error instanceof Error ? error.message : String(error))}`,
      { details: { provider: 'google-cloud-dns', package: 'google-auth-library' } },
    );
  }
  try {
    return new mod.GoogleAuth({ scopes: [CLOUD_DNS_SCOPE], ...(projectId ? { projectId } : {}), ...(credentials ? { credentials } : {}) });
  } catch (error) {
    throw new DnsError('DNS_PROVIDER_ERROR', `google-cloud-dns: google-auth-library refused the credentials: ${scrub(error instanceof Error ? error.message : String(error))}`, {
      details: { provider: 'google-cloud-dns' },
    });
  }
}
