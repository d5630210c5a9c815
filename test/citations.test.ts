/**
 * The docs own the protocol (docs/CONVENTIONS.md#citations): every citation of a docs page in code,
 * tests, scripts and docs names a file of this repository and, when it names a section, a heading
 * that exists in that file. No citation points outside the repository (the design document the
 * product started from is not part of it, so "SPEC §N" is refused).
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** Tracked text files worth scanning (the committed rendered examples included: renderers write citations into them). */
function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out
    .split('\0')
    .filter((f) => /\.(ts|mjs|js|md|sh|ya?ml|conf|cfg|lua|pl|json|service)$|Caddyfile$|^\.ci\//.test(f))
    .filter((f) => !f.startsWith('test/fixtures/') && f !== 'package-lock.json' && f !== 'test/citations.test.ts'); // this file names what it refuses
}

/**
 * GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped, spaces to `-`.
 * Duplicate headings get `-1`, `-2`… suffixes, as GitHub numbers them.
 */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const seen = counts.get(base) ?? 0;
    counts.set(base, seen + 1);
    anchors.add(seen === 0 ? base : `${base}-${seen}`);
  }
  return anchors;
}

interface Citation {
  readonly from: string;
  readonly line: number;
  readonly file: string;
  readonly anchor: string | undefined;
}

/** A docs page path with an optional `#anchor`, written from the repository root, and relative markdown links in .md files. */
function citationsIn(from: string, text: string): Citation[] {
  const found: Citation[] = [];
  text.split('\n').forEach((line, index) => {
    for (const m of line.matchAll(/(?<![\w/.-]|\]\()((?:docs\/[\w./-]+|README)\.md)(?:#([\w-]+))?/g)) {
      found.push({ from, line: index + 1, file: m[1]!, anchor: m[2] });
    }
    if (from.endsWith('.md')) {
      for (const m of line.matchAll(/\]\(((?!https?:|mailto:|#)[^)\s#]+\.md)(?:#([\w-]+))?\)/g)) {
        found.push({ from, line: index + 1, file: normalize(join(dirname(from), m[1]!)), anchor: m[2] });
      }
      for (const m of line.matchAll(/\]\(#([\w-]+)\)/g)) found.push({ from, line: index + 1, file: from, anchor: m[1] });
    }
  });
  return found;
}

describe('citations', () => {
  const files = trackedFiles();
  const texts = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

  it('no citation points at a document outside the repository ("SPEC §N")', () => {
    const outside = files.flatMap((f) =>
      texts
        .get(f)!
        .split('\n')
        .flatMap((line, i) => (/\bSPEC\s*§/.test(line) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
    );
    assert.deepEqual(outside, []);
  });

  it('every cited docs file and section exists', () => {
    const anchorCache = new Map<string, Set<string>>();
    const broken: string[] = [];
    for (const f of files) {
      for (const c of citationsIn(f, texts.get(f)!)) {
        const path = join(ROOT, c.file);
        if (!existsSync(path)) {
          broken.push(`${c.from}:${c.line}: ${c.file} does not exist`);
          continue;
        }
        if (c.anchor === undefined) continue;
        if (!anchorCache.has(c.file)) anchorCache.set(c.file, anchorsOf(readFileSync(path, 'utf8')));
        if (!anchorCache.get(c.file)!.has(c.anchor)) broken.push(`${c.from}:${c.line}: ${c.file}#${c.anchor} is no heading of that file`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('the anchor rule is GitHub\'s', () => {
    const anchors = anchorsOf('# A\n## 5. Replay and clock rules\n### Grammar of `X-Stella-Provenance`\n```\n# not a heading\n```\n## A\n');
    assert.deepEqual([...anchors], ['a', '5-replay-and-clock-rules', 'grammar-of-x-stella-provenance', 'a-1']);
  });
});
