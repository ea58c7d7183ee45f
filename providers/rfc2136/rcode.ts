/**
 * What an UPDATE answer means, as a {@link DnsError} an operator can act on.
 * Pure: it takes the TSIG verdict and the RCODE and returns the error (or
 * nothing for success), so every branch is unit-tested without a server.
 *
 * Messages name the server, zone and key — never the key's secret — and
 * avoid words that `scrub()` treats as the start of a credential.
 */
import { DnsError } from '../../src/errors.js';
import { TsigError, type TsigVerdict } from './tsig.js';

/** RCODE names, index = value (RFC 1035, RFC 2136 §2.2). */
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** Name of an RCODE or TSIG error (`REFUSED`, `BADKEY`, `RCODE 12`). */
export function rcodeName(code: number): string {
  const tsig = Object.entries(TsigError).find(([, value]) => value === code)?.[0];
  return RCODES[code] ?? tsig ?? `RCODE ${code}`;
}

/** What the answer is about, for messages. */
export interface AnswerContext {
  /** `host:port` of the server. */
  server: string;
  zone: string;
  keyName: string;
  algorithm: string;
  /** The changed records, `TXT _acme-challenge.example.com.` each. */
  changes: string[];
  /** Our clock, seconds since the epoch. */
  now: number;
  /** The fudge we sent. */
  fudge: number;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/** The error an answer means, or undefined when the update was applied. */
export function answerError(verdict: TsigVerdict, rcode: number, ctx: AnswerContext): DnsError | undefined {
  // Shown as users write it in the key statement: without the trailing dot.
  const keyName = ctx.keyName.replace(/\.$/, '');
  const key = `key "${keyName}" (${ctx.algorithm})`;
  const fail = (reason: string, message: string, retryable: boolean, extra: Record<string, unknown> = {}) =>
    new DnsError('DNS_PROVIDER_ERROR', `rfc2136: ${message}`, {
      retryable,
      details: { provider: 'rfc2136', server: ctx.server, zone: ctx.zone, key: keyName, rcode: rcodeName(rcode), reason, ...extra },
    });

  switch (verdict.status) {
    case 'unsigned':
      return fail('unsigned', `the answer from ${ctx.server} (${rcodeName(rcode)}) carries no TSIG MAC, so it cannot be trusted: ` +
        `the server may not support TSIG for updates (Windows DNS only speaks GSS-TSIG), or the answer was forged.`, false);
    case 'wrong-key':
      return fail('wrong-key', `the answer from ${ctx.server} is signed with key "${verdict.keyName}" (${verdict.algorithm.replace(/\.$/, '')}), ` +
        `not with ${key}; refusing to trust it.`, false);
    case 'bad-mac':
      // A server with another copy of the key would have answered BADSIG, so this is tampering on the way.
      return fail('bad-mac', `the answer from ${ctx.server} failed TSIG verification (its MAC does not match ${key}): it was forged or altered on the way.`, true);
    case 'bad-time':
      return fail('clock-skew', `clock skew: the answer from ${ctx.server} was signed at ${iso(verdict.timeSigned)}, ` +
        `${Math.abs(ctx.now - verdict.timeSigned)} s from our clock (${iso(ctx.now)}; allowed: ${verdict.fudge} s). Synchronize the clocks (NTP).`, false);
    case 'unsigned-error':
      return tsigFailure(verdict.error, undefined);
    case 'verified':
      if (verdict.error !== 0) return tsigFailure(verdict.error, verdict.serverTime);
  }

  const names = ctx.changes.join(', ');
  switch (rcode) {
    case 0:
      return undefined;
    case 1:
      return fail('formerr', `${ctx.server} could not parse the update (FORMERR).`, false);
    case 2:
      return fail('servfail', `${ctx.server} failed to apply the update to zone ${ctx.zone} (SERVFAIL); its log says why ` +
        `(zone not loaded, journal not writable, …). Trying again later may help.`, true);
    case 4:
      return fail('notimp', `${ctx.server} does not implement DNS UPDATE (NOTIMP): point server at the zone's primary.`, false);
    case 5:
      return fail('refused', `${ctx.server} refused the update of zone ${ctx.zone} (REFUSED): the update-policy of ${key} probably does not allow ` +
        `changing ${names}. Grant it those names and the TXT type (see docs/providers/rfc2136.md), and check the zone allows updates at all.`, false);
    case 9:
      return fail('notauth', `${ctx.server} is not authoritative for zone ${ctx.zone} (NOTAUTH): check the zone name (zones option or SOA walk) ` +
        `and that server is the zone's primary, which accepts updates.`, false);
    case 10:
      return fail('notzone', `the update names records outside zone ${ctx.zone} (NOTZONE): ${names}. The record names and the zone do not match.`, false);
    default:
      return fail('rcode', `${ctx.server} answered the update of zone ${ctx.zone} with ${rcodeName(rcode)}.`, false);
  }

  function tsigFailure(error: number, serverTime: number | undefined): DnsError {
    const extra = { tsigError: rcodeName(error) };
    switch (error) {
      case TsigError.BADKEY:
        return fail('badkey', `the server does not know ${key} (TSIG BADKEY): tsig.name and tsig.algorithm must match a key statement ` +
          `that ${ctx.server} has loaded.`, false, extra);
      case TsigError.BADSIG:
        // Worded so that scrub() leaves it alone: it redacts whatever follows "secret" and a space.
        return fail('badsig', `${ctx.server} knows key "${keyName}" but its MAC did not verify (TSIG BADSIG): the key's secret, ` +
          `or its algorithm, differs from the server's copy (compare tsig with the server's key statement).`, false, extra);
      case TsigError.BADTIME: {
        const skew = serverTime === undefined ? '' : `, the server's ${iso(serverTime)} (${Math.abs(ctx.now - serverTime)} s apart)`;
        return fail('clock-skew', `clock skew: ${ctx.server} rejected the request's time (TSIG BADTIME): our clock says ${iso(ctx.now)}${skew}; ` +
          `at most ${ctx.fudge} s are allowed. Synchronize the clocks (NTP).`, false, extra);
      }
      case TsigError.BADALG:
        return fail('badalg', `${ctx.server} does not support TSIG algorithm ${ctx.algorithm} (TSIG BADALG): choose another tsig.algorithm.`, false, extra);
      default:
        return fail('tsig', `${ctx.server} rejected the TSIG of ${key} (TSIG ${rcodeName(error)}).`, false, extra);
    }
  }
}
