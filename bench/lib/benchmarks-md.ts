import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Machine, ROOT } from './common';

/** Marks the start of a section's hand-written tail, which writeSection keeps. */
export const HAND_WRITTEN = '<!-- hand-written: kept by the bench -->';

const HEADER = '# Benchmarks\n\nEach section is written by its benchmark command; numbers are from the machine named in it.\n\n';

/** "4× <cpu model>, Node v20.x": the machine as a section's "Last run" line names it. */
export const describeMachine = (m: Machine): string => `${m.cpus}× ${m.cpu ?? 'unknown CPU'}, Node ${m.node}`;

/**
 * Writes the "## <heading>" section of BENCHMARKS.md: replaces it (up to the next "## " heading)
 * where it exists, else adds it at the end (`at: 'end'`) or before the first section (`at: 'first'`).
 * Sections are always separated by exactly one blank line and the file ends with one newline.
 * A hand-written tail of a section (from a line `<!-- hand-written: kept by the bench -->` to the
 * section's end, e.g. a profile before/after) is kept below the new content.
 */
export function writeSection(heading: string, body: string | readonly string[], options: { at?: 'end' | 'first' } = {}): void {
  const path = join(ROOT, 'BENCHMARKS.md');
  const text = existsSync(path) ? readFileSync(path, 'utf8') : HEADER;
  const content = typeof body === 'string' ? body : body.join('\n');
  let section = `## ${heading}\n\n${content.replace(/^\n+|\s+$/g, '')}\n`;
  // before + one blank line + the section + one blank line + after
  const place = (before: string, after: string) =>
    `${before ? before.replace(/\n*$/, '\n\n') : ''}${section}${after ? `\n${after.replace(/^\n+/, '')}` : ''}`;
  // where a line starting with `prefix` begins, or -1
  const lineAt = (prefix: string, from = 0) => {
    if (from === 0 && text.startsWith(prefix)) return 0;
    const i = text.indexOf(`\n${prefix}`, from);
    return i < 0 ? -1 : i + 1;
  };
  const start = lineAt(`## ${heading}\n`);
  const first = lineAt('## ');
  let out: string;
  if (start >= 0) {
    const next = lineAt('## ', start + 1);
    const old = text.slice(start, next >= 0 ? next : text.length);
    const kept = old.indexOf(`\n${HAND_WRITTEN}\n`);
    if (kept >= 0) section += `\n${old.slice(kept + 1).replace(/\s+$/, '')}\n`;
    out = place(text.slice(0, start), next >= 0 ? text.slice(next) : '');
  } else if (options.at === 'first' && first >= 0) {
    out = place(text.slice(0, first), text.slice(first));
  } else {
    out = place(text, '');
  }
  writeFileSync(path, out);
}
