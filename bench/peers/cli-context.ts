/** What the CLI peers need to know about the test bed. */
import { fileURLToPath } from 'node:url';

/** Addresses and files of the running Pebble + challtestsrv, and a directory for one run. */
export interface CliContext {
  /** Empty directory owned by this run (state, logs). */
  dir: string;
  directoryUrl: string;
  /** PEM of the CA that signs Pebble's HTTPS certificate. */
  caPath: string;
  /** challtestsrv DNS listener, `127.0.0.1:PORT`. */
  dnsServer: string;
  /** challtestsrv management API, `http://127.0.0.1:PORT`. */
  managementUrl: string;
}

/** The hook script both CLI peers call to publish TXT records. */
export const HOOK = fileURLToPath(new URL('./challtestsrv-hook.sh', import.meta.url));
