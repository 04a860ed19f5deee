// Option parsers and the action wrapper shared by the CLI's API commands.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ApiError, resolveToken, type ClientOptions } from './client.ts';

export function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new InvalidArgumentError(`"${value}" is not an integer.`);
  return parsed;
}

export function boolean(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError(`"${value}" must be true or false.`);
}

/** Parses "20/40" as { perSecond: 20, burst: 40 }. */
export function rateLimit(value: string): { perSecond: number; burst: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`"${value}" must be PER_SECOND/BURST, such as 20/40.`);
  return { perSecond: Number(match[1]), burst: Number(match[2]) };
}

export function list(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** Stay lengths accept "none" to clear the restriction. */
export function stayLength(value: string): number | null {
  return value === 'none' ? null : integer(value);
}

/** Keeps only the options the user gave, so the API receives omitted fields as omitted. */
export function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function clientOf(command: Command): ClientOptions {
  const options = command.optsWithGlobals<{ url: string; token?: string }>();
  return { url: options.url, token: resolveToken(options.token) };
}

/** Wraps an action: prints the JSON response, or the problem document on stderr with exit code 1. */
export function run(handler: (client: ClientOptions, ...args: never[]) => Promise<unknown>) {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    try {
      const result = await handler(clientOf(command), ...(args.slice(0, -1) as never[]));
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } catch (error) {
      if (error instanceof ApiError) {
        process.stderr.write(`${JSON.stringify(error.body, null, 2)}\n`);
      } else {
        const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        process.stderr.write(`request to ${clientOf(command).url} failed: ${reason}; is parksync running (npm start)?\n`);
      }
      process.exitCode = 1;
    }
  };
}

