import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Writes benchmark results into docs/benchmarks.md. Each item owns the text
 * between `<!-- bench:<item>:start -->` and `<!-- bench:<item>:end -->`, so a
 * run of some items replaces only their sections and keeps the rest, including
 * the hand-written findings outside the markers.
 */

export function markdownTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

function markers(item: string): { start: string; end: string } {
  return { start: `<!-- bench:${item}:start -->`, end: `<!-- bench:${item}:end -->` };
}

/** Replaces each item's marked section, or appends it before the findings heading when the file has no markers for it yet. */
export function writeSections(file: string, sections: ReadonlyArray<{ item: string; markdown: string }>): void {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  for (const section of sections) {
    const { start, end } = markers(section.item);
    const block = `${start}\n${section.markdown.trim()}\n${end}`;
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from >= 0 && to > from) {
      text = `${text.slice(0, from)}${block}${text.slice(to + end.length)}`;
      continue;
    }
    const findings = text.indexOf('\n## Findings');
    text = findings >= 0 ? `${text.slice(0, findings)}\n${block}\n${text.slice(findings)}` : `${text.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(file, text);
}
