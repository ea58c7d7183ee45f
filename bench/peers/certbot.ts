/**
 * certbot peer: `certbot certonly --manual` per certificate with hooks calling
 * ./challtestsrv-hook.sh. certbot locks its config, work and logs directories,
 * so each pool slot gets its own set; the warm-up registers the account in slot
 * 0 and it is copied to the other slots, so no measured run registers one.
 */
import { cp } from 'node:fs/promises';
import path from 'node:path';
import type { CliPeer } from '../run-cli.js';
import { HOOK, type CliContext } from './cli-context.js';

/** certbot 2.1 against the test bed in `ctx`. */
export function certbot(ctx: CliContext): CliPeer {
  const slotDir = (slot: number | string, what: string) => path.join(ctx.dir, `slot${slot}`, what);
  return {
    name: 'certbot',
    job: (apex) => ({
      args: [
        '/usr/bin/certbot', 'certonly', '--non-interactive', '--agree-tos', '--register-unsafely-without-email',
        '--server', ctx.directoryUrl,
        '--manual', '--preferred-challenges', 'dns',
        '--manual-auth-hook', `${HOOK} present`, '--manual-cleanup-hook', `${HOOK} cleanup`,
        '--config-dir', slotDir('{slot}', 'config'), '--work-dir', slotDir('{slot}', 'work'), '--logs-dir', slotDir('{slot}', 'logs'),
        '--key-type', 'ecdsa', '--elliptic-curve', 'secp256r1',
        '--cert-name', apex, '-d', apex, '-d', `*.${apex}`,
      ],
      env: { REQUESTS_CA_BUNDLE: ctx.caPath, CHALLTESTSRV_URL: ctx.managementUrl },
      log: path.join(ctx.dir, 'certbot.log'),
    }),
    async afterWarmup(concurrency) {
      for (let slot = 1; slot < concurrency; slot++) {
        await cp(slotDir(0, 'config/accounts'), slotDir(slot, 'config/accounts'), { recursive: true });
      }
    },
    fullchainPath: (apex, slot) => path.join(slotDir(slot, 'config'), 'live', apex, 'fullchain.pem'),
  };
}
