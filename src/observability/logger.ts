import pino, { type Logger, type LoggerOptions } from 'pino';

/**
 * Paths the logger always censors. Secrets are removed here, by configuration,
 * so a careless log call cannot leak one.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-signature"]',
  'req.headers["webhook-signature"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-signature"]',
  'headers["webhook-signature"]',
  'secret',
  'token',
  '*.secret',
  '*.token',
  '*.secret_current',
  '*.secret_previous',
  '*.secretCurrent',
  '*.secretPrevious',
  '*.guest',
  'guest',
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { service: 'parksync' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
}

export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(loggerOptions(level));
}

export type { Logger };
