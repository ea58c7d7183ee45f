/**
 * lego peer: `lego run` per certificate with the `exec` DNS provider calling
 * ./challtestsrv-hook.sh. All invocations of a run share one `--path`, so the
 * account registered by the warm-up is reused (lego takes no lock on it).
 */
import path from 'node:path';
import type { CliPeer } from '../run-cli.js';
import { HOOK, type CliContext } from './cli-context.js';

/** lego 4.9 against the test bed in `ctx`. */
export function lego(ctx: CliContext): CliPeer {
  const state = path.join(ctx.dir, 'state');
  return {
    name: 'lego',
    job: (apex) => ({
      args: [
        '/usr/bin/lego', '--server', ctx.directoryUrl, '--accept-tos', '--email', 'bench@example.test',
        '--path', state, '--key-type', 'ec256',
        // Check propagation at challtestsrv, not at the (unreachable) authoritative servers of bench.test.
        '--dns', 'exec', '--dns.resolvers', ctx.dnsServer, '--dns.disable-cp',
        '-d', apex, '-d', `*.${apex}`, 'run',
      ],
      env: {
        EXEC_PATH: HOOK,
        EXEC_SEQUENCE_INTERVAL: '0', // default: a 60 s pause between the two names
        EXEC_POLLING_INTERVAL: '0', // lego sleeps one interval before its first propagation check; the record is there at once
        LEGO_CA_CERTIFICATES: ctx.caPath,
        CHALLTESTSRV_URL: ctx.managementUrl,
      },
      log: path.join(ctx.dir, 'lego.log'),
    }),
    fullchainPath: (apex) => path.join(state, 'certificates', `${apex}.crt`),
  };
}
