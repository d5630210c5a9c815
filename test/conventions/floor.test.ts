/**
 * The conventions floor sits at the bottom of the import graph (docs/CONVENTIONS.md#the-conventions-floor):
 * its files import only `node:` builtins and each other, so any part can import it without a cycle
 * and without loading a dependency.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const FLOOR = join(import.meta.dirname, '..', '..', 'src', 'conventions');

describe('the conventions floor', () => {
  it('imports nothing but node: builtins and its own files', () => {
    const files = readdirSync(FLOOR).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 5, 'the floor has its modules');
    for (const file of files) {
      const text = readFileSync(join(FLOOR, file), 'utf8');
      const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
      for (const specifier of specifiers) {
        assert.ok(specifier.startsWith('node:') || /^\.\/[\w-]+\.js$/.test(specifier), `${file} imports ${specifier}`);
      }
    }
  });
});
