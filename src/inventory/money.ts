import currencyCodes from 'currency-codes';

/** ISO 4217 codes that name no money a park could charge in (testing, no currency, precious metals). */
const NON_TRADING_CODES = new Set(['XXX', 'XTS', 'XAU', 'XAG', 'XPD', 'XPT', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XSU', 'XUA']);

/** The ISO 4217 minor-unit exponent of a currency (JPY 0, EUR 2, KWD 3), or undefined when the code is unknown. */
export function currencyExponent(code: string): number | undefined {
  if (!/^[A-Z]{3}$/.test(code) || NON_TRADING_CODES.has(code)) return undefined;
  const entry = currencyCodes.code(code);
  return entry ? entry.digits : undefined;
}

export type AmountParse = { ok: true; minor: number } | { ok: false; message: string };

const AMOUNT_PATTERN = /^(0|[1-9]\d{0,14})(?:\.(\d+))?$/;

/**
 * Converts a decimal amount string ("129.00") to integer minor units of the
 * currency. Amounts are strings so no float rounding happens on the way in.
 */
export function parseAmount(text: unknown, currency: string): AmountParse {
  const exponent = currencyExponent(currency);
  if (exponent === undefined) return { ok: false, message: `currency ${currency} is not an ISO 4217 code` };
  if (typeof text !== 'string') {
    return { ok: false, message: 'must be a decimal string such as "129.00", not a number' };
  }
  const match = AMOUNT_PATTERN.exec(text);
  if (!match) return { ok: false, message: `"${text}" is not a non-negative decimal amount such as "129.00"` };
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  if (fraction.length > exponent) {
    return {
      ok: false,
      message: `${currency} has ${exponent} decimal place${exponent === 1 ? '' : 's'}; "${text}" has ${fraction.length}`,
    };
  }
  const minor = Number(whole + fraction.padEnd(exponent, '0'));
  if (!Number.isSafeInteger(minor)) return { ok: false, message: `"${text}" is too large` };
  return { ok: true, minor };
}

/** Formats minor units back to the decimal string a channel expects. */
export function formatAmount(minor: number, currency: string): string {
  const exponent = currencyExponent(currency) ?? 2;
  if (exponent === 0) return String(minor);
  const digits = String(minor).padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}
