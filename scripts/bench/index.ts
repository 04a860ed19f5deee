import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchItem } from './lib/context.ts';
import { readMachine } from './lib/machine.ts';
import { killLiveChildren } from './lib/processes.ts';
import { writeSections } from './lib/report.ts';
import { ADMIN_DATABASE_URL, dropLiveDatabases } from './lib/scratch-db.ts';
import { embeddedItem } from './embedded.ts';
import { fullSyncItem } from './full-sync.ts';
import { ingestItem } from './ingest.ts';
import { propagationItem } from './propagation.ts';
import { reconcileItem } from './reconcile.ts';

/**
 * `npm run bench -- [--quick] [--out FILE] [item ...]` runs the benchmarks
 * (all of them, or the named items) and writes each item's sections into
 * docs/benchmarks.md, leaving the other sections as they were.
 */

const ITEMS: readonly BenchItem[] = [ingestItem, propagationItem, fullSyncItem, reconcileItem, embeddedItem];
const DEFAULT_OUT = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

const USAGE = `Usage: npm run bench -- [--quick] [--out FILE] [item ...]

Runs the parksync benchmarks on this machine against 127.0.0.1 only, and writes
the results into docs/benchmarks.md (each item replaces its own sections).

  --quick      shorter phases (about a third), to check that the benchmarks run
  --out FILE   write the report to FILE instead of docs/benchmarks.md
  item         one or more of: ${ITEMS.map((item) => item.name).join(', ')} (default: all)

Items:
${ITEMS.map((item) => `  ${item.name.padEnd(12)} ${item.description}`).join('\n')}

PostgreSQL must accept postgres@127.0.0.1:5432 without a password, or set
BENCH_ADMIN_DATABASE_URL; each item creates a scratch database there and drops it.`;

interface Arguments {
  quick: boolean;
  out: string;
  items: BenchItem[];
}

function parseArguments(argv: readonly string[]): Arguments {
  let quick = false;
  let out = DEFAULT_OUT;
  const names: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] ?? '';
    if (argument === '--help' || argument === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (argument === '--quick') {
      quick = true;
    } else if (argument === '--out') {
      const value = argv[index + 1];
      if (!value) throw new Error('--out needs a file name');
      out = path.resolve(value);
      index += 1;
    } else if (argument.startsWith('-')) {
      throw new Error(`unknown option "${argument}"\n\n${USAGE}`);
    } else {
      names.push(argument);
    }
  }
  const unknown = names.filter((name) => !ITEMS.some((item) => item.name === name));
  if (unknown.length > 0) throw new Error(`unknown item(s): ${unknown.join(', ')}; choose from ${ITEMS.map((item) => item.name).join(', ')}`);
  return { quick, out, items: names.length === 0 ? [...ITEMS] : ITEMS.filter((item) => names.includes(item.name)) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArguments(argv);
  const workDir = await mkdtemp(path.join(tmpdir(), 'parksync-bench-'));

  const interrupt = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the child processes and dropping the scratch databases`);
    killLiveChildren();
    void dropLiveDatabases().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  const started = performance.now();
  const context: BenchContext = {
    quick: args.quick,
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
    machine: await readMachine(ADMIN_DATABASE_URL),
    workDir,
    log: (message) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`),
  };
  let failed = false;
  try {
    for (const item of args.items) {
      context.log(`${item.name}: ${item.description}`);
      try {
        const result = await item.run(context);
        writeSections(args.out, result.sections);
        context.log(`${item.name}: written to ${path.relative(process.cwd(), args.out)}`);
      } catch (error) {
        failed = true;
        console.error(`${item.name} failed:`, error);
      }
    }
  } finally {
    killLiveChildren();
    await dropLiveDatabases();
    if (failed || process.env.BENCH_KEEP_WORK_DIR) console.error(`logs and CPU profiles of the child processes kept in ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
  context.log(`done in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  killLiveChildren();
  void dropLiveDatabases().finally(() => process.exit(1));
});
