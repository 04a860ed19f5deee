import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../src/errors.ts';

/**
 * Keeps docs/errors.md in step with ERROR_CATALOGUE. The page documents each
 * code as a table row: | `code` | status | when | what the caller should do |
 */

interface DocumentedCode {
  code: string;
  status: number;
  cells: string[];
}

const CATALOGUE_ROW = /^\|\s*`([a-z0-9_]+)`\s*\|\s*(\d{3})\s*\|/;

function documentedCodes(): DocumentedCode[] {
  const text = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  return text
    .split('\n')
    .map((line) => ({ line, match: CATALOGUE_ROW.exec(line) }))
    .filter((row): row is { line: string; match: RegExpExecArray } => row.match !== null)
    .map(({ line, match }) => ({
      code: match[1] as string,
      status: Number(match[2]),
      cells: line.split('|').slice(1, -1).map((cell) => cell.trim()),
    }));
}

const documented = documentedCodes();
const catalogue = ERROR_CATALOGUE as Record<string, { status: number; title: string }>;

describe('docs/errors.md', () => {
  it('documents every catalogue code', () => {
    const listed = new Set(documented.map((row) => row.code));
    const missing = Object.keys(catalogue).filter((code) => !listed.has(code));
    expect(missing, 'codes in ERROR_CATALOGUE missing from docs/errors.md').toEqual([]);
  });

  it('lists no code the catalogue lacks', () => {
    const unknown = documented.map((row) => row.code).filter((code) => !Object.hasOwn(catalogue, code));
    expect(unknown, 'codes in docs/errors.md missing from ERROR_CATALOGUE').toEqual([]);
  });

  it('lists each code once', () => {
    const codes = documented.map((row) => row.code);
    const repeated = codes.filter((code, index) => codes.indexOf(code) !== index);
    expect(repeated, 'codes listed more than once').toEqual([]);
  });

  it('gives the catalogue status', () => {
    const wrong = documented
      .filter((row) => Object.hasOwn(catalogue, row.code) && catalogue[row.code]?.status !== row.status)
      .map((row) => `${row.code}: documented ${row.status}, catalogue ${catalogue[row.code]?.status}`);
    expect(wrong, 'documented statuses that differ from ERROR_CATALOGUE').toEqual([]);
  });

  it('says when each code happens and what to do', () => {
    const incomplete = documented
      .filter((row) => row.cells.length !== 4 || row.cells.slice(2).some((cell) => cell === ''))
      .map((row) => row.code);
    expect(incomplete, 'rows without exactly four filled cells').toEqual([]);
  });
});
