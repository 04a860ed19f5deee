import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Reads a V8 .cpuprofile (written by `node --cpu-prof`) and sums the time of
 * its samples two ways. By caller, each sample goes to the innermost frame on
 * its stack that belongs to a package under node_modules or a folder of src/.
 * So a socket write that pg requested counts for pg, and PGlite's WebAssembly
 * counts for PGlite. By function, each sample goes to the frame that was
 * running (self time). Idle time and module loading at start-up are left out,
 * so the shares add up to the time the process was busy serving.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface CpuShare {
  name: string;
  ms: number;
  /** Fraction of the busy time, 0 to 1. */
  share: number;
}

export interface CpuSummary {
  /** Sampled time spent running, without idle time and start-up module loading, in milliseconds. */
  busyMs: number;
  startupMs: number;
  byCaller: CpuShare[];
  byFunction: CpuShare[];
}

const STARTUP = 'start-up';

/** Returns the area a frame's own code belongs to, or undefined for Node, V8 and native code. */
function ownArea(frame: ProfileNode['callFrame']): string | undefined {
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(frame.url);
  if (modules) return `package ${modules[1]}`;
  const source = /\/src\/([^/]+)\/[^/]+$/.exec(frame.url);
  if (source) return `src/${source[1]}`;
  if (/\/src\/[^/]+\.ts$/.test(frame.url)) return 'src (top level)';
  if (/\/scripts\//.test(frame.url)) return 'scripts';
  return undefined;
}

function functionLabel(frame: ProfileNode['callFrame']): string {
  if (frame.url === '') return frame.functionName || '(anonymous native)';
  const file = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|scripts)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

function top(totals: Map<string, number>, busyMs: number, limit: number): CpuShare[] {
  return [...totals]
    .map(([name, ms]) => ({ name, ms, share: busyMs > 0 ? ms / busyMs : 0 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, limit);
}

export function summarizeCpuProfile(file: string, limit = 10): CpuSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);

  // The caller area of each node is its own area, or else its parent's. Start-up module loading wins over both.
  const callers = new Map<number, string>();
  const callerOf = (id: number): string => {
    const known = callers.get(id);
    if (known !== undefined) return known;
    const node = nodes.get(id);
    const parent = parents.get(id);
    let area = 'Node.js core and native code';
    if (node && node.callFrame.url.startsWith('node:internal/modules/')) area = STARTUP;
    else if (parent !== undefined && callerOf(parent) === STARTUP) area = STARTUP;
    else if (node && ownArea(node.callFrame)) area = ownArea(node.callFrame) ?? area;
    else if (parent !== undefined) area = callerOf(parent);
    callers.set(id, area);
    return area;
  };

  const byCaller = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busyMs = 0;
  let startupMs = 0;
  profile.samples.forEach((id, index) => {
    const node = nodes.get(id);
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    if (!node || node.callFrame.functionName === '(idle)') return;
    const special = { '(garbage collector)': 'V8 garbage collector', '(program)': 'V8 and native code outside JavaScript' }[node.callFrame.functionName];
    const caller = special ?? callerOf(id);
    if (caller === STARTUP) {
      startupMs += ms;
      return;
    }
    busyMs += ms;
    byCaller.set(caller, (byCaller.get(caller) ?? 0) + ms);
    const label = functionLabel(node.callFrame);
    byFunction.set(label, (byFunction.get(label) ?? 0) + ms);
  });
  return { busyMs, startupMs, byCaller: top(byCaller, busyMs, limit), byFunction: top(byFunction, busyMs, limit) };
}

/**
 * The main thread's .cpuprofile in `directory`. Node names each file
 * CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile, and tsx's module
 * loader runs in a worker thread with a profile of its own, so the main
 * thread's file is the one with thread id 0.
 */
export function findCpuProfile(directory: string): string {
  const files = readdirSync(directory).filter((name) => name.endsWith('.cpuprofile') && name.split('.')[4] === '0');
  if (files.length !== 1) throw new Error(`expected one main-thread .cpuprofile in ${directory}, found ${files.length}`);
  return path.join(directory, files[0] ?? '');
}
