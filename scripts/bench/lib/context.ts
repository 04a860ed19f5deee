import { randomBytes } from 'node:crypto';
import { describeMachine, type MachineInfo } from './machine.ts';

/** What every benchmark item gets from the runner. */
export interface BenchContext {
  /** Shorter phases, for a check that the benchmarks work rather than for numbers to keep. */
  quick: boolean;
  /** The command line that started this run, as it goes into the report. */
  command: string;
  machine: MachineInfo;
  /** A temporary directory for child logs and PGlite data, removed after the run. */
  workDir: string;
  log(message: string): void;
}

export interface ItemResult {
  /** Markdown for docs/benchmarks.md, keyed by the section marker name. */
  sections: Array<{ item: string; markdown: string }>;
}

export interface BenchItem {
  name: string;
  description: string;
  run(context: BenchContext): Promise<ItemResult>;
}

/** Picks the full or the quick length of a phase, in milliseconds. */
export function phaseMs(context: BenchContext, fullSeconds: number, quickSeconds: number): number {
  return (context.quick ? quickSeconds : fullSeconds) * 1000;
}

/** The lines under each section heading: the command, the date and the machine. */
export function runHeader(context: BenchContext): string {
  return [`Command: \`${context.command}\``, '', `Run ${context.machine.date} on ${describeMachine(context.machine)}.`].join('\n');
}

export function newAdminToken(): string {
  return randomBytes(24).toString('hex');
}

export function megabytes(kilobytes: number): string {
  return Number.isFinite(kilobytes) ? `${(kilobytes / 1024).toFixed(0)} MB` : 'n/a';
}
