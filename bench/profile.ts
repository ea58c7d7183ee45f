/** Summarises a V8 CPU profile (`.cpuprofile`): where the sampled time went, by component and by function. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Sampled time billed to one component or function. */
export interface ProfileEntry { name: string; ms: number; share: number }

/** The summary of one profile. */
export interface ProfileSummary {
  /** Sampled time that was not idle, ms (V8 samples wall time on the main thread: time descheduled inside a call counts too). */
  busyMs: number;
  /** Whole profile, ms. */
  totalMs: number;
  byComponent: ProfileEntry[];
  topFunctions: ProfileEntry[];
}

/** Node's own code (including undici's WebAssembly HTTP parser) or a native function, rather than a library's. */
const isInternal = (url: string) => !url || url.startsWith('node:') || url.startsWith('wasm:');

/** Which part of the process a frame belongs to: a certpilot file, an npm package, Node itself, or V8. */
function component(frame: CallFrame, repo: string): string {
  if (frame.functionName === '(garbage collector)') return 'V8 garbage collector';
  if (frame.functionName === '(program)') return 'V8/native (program)';
  if (isInternal(frame.url)) return 'Node.js internals, no library frame on the stack (socket I/O callbacks, timers)';
  const file = frame.url.startsWith('file://') ? new URL(frame.url).pathname : frame.url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (pkg) return `npm: ${pkg[1]}`;
  return file.startsWith(repo) ? `certpilot: ${path.relative(repo, file)}` : file;
}

/** `fn (where)`. Line numbers of certpilot files would be those of tsx's transpiled output: only npm files get one. */
function frameName(frame: CallFrame, repo: string): string {
  const inPackage = /node_modules\/(.+)$/.exec(frame.url)?.[1];
  const at = isInternal(frame.url) ? frame.url || 'native' : inPackage ? `${inPackage}:${frame.lineNumber + 1}` : component(frame, repo).replace(/^certpilot: /, '');
  return `${frame.functionName || '(anonymous)'} (${at})`;
}

/**
 * Reads `file` and bills every sample to the code that caused it: the nearest
 * frame on the stack from certpilot or an npm package. Node internals and
 * native functions (TLS writes, ECDSA signing) count for the library that
 * called them; samples with no such frame (socket callbacks, timers) stay
 * "Node.js internals". The function list names the frame on top of the stack.
 */
export async function summariseProfile(file: string, repo: string, top = 8): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stackOf = (id: number): CallFrame[] => {
    const frames: CallFrame[] = [];
    for (let n = byId.get(id); n; n = byId.get(parent.get(n.id) ?? -1)) frames.push(n.callFrame);
    return frames;
  };
  const components = new Map<string, number>();
  const functions = new Map<string, number>();
  const add = (m: Map<string, number>, key: string, ms: number) => m.set(key, (m.get(key) ?? 0) + ms);
  let idle = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frames = stackOf(id);
    if (frames.some((f) => f.url.startsWith('node:inspector'))) return; // Profiler.stop() itself: not the workload
    total += ms;
    const leaf = frames[0]!;
    if (leaf.functionName === '(idle)') { idle += ms; return; }
    const owner = frames.find((f) => !isInternal(f.url));
    add(components, component(owner ?? leaf, repo), ms);
    add(functions, owner && owner !== leaf ? `${frameName(leaf, repo)} ← ${frameName(owner, repo)}` : frameName(leaf, repo), ms);
  });
  const busy = total - idle;
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms, share: ms / busy }));
  return { busyMs: busy, totalMs: total, byComponent: rank(components), topFunctions: rank(functions) };
}
