/**
 * The published package: every subpath export resolves to a built module with exports, by the
 * package's own name (Node's self-reference), as a user's `import 'stella-gateway/dsse'` would.
 * Needs the build (`npm run build`), which the test command runs first.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; exports: Record<string, { types: string; default: string } | string>; bin: Record<string, string> };

describe('the stella-gateway package', () => {
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    it(`resolves ${manifest.name}${subpath.slice(1)} to a built module with its types`, () => {
      assert.ok(existsSync(target.default), `${target.default} is missing: run npm run build`);
      assert.ok(existsSync(target.types), `${target.types} is missing`);
      const script = `const m = await import('${manifest.name}${subpath.slice(1)}'); process.stdout.write(String(Object.keys(m).length));`;
      const count = Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
      assert.ok(count > 0, `${subpath} exports nothing`);
    });
  }

  it('runs its bin: stella-gateway --help lists every command group', () => {
    const help = execFileSync(process.execPath, [manifest.bin['stella-gateway']!, '--help'], { encoding: 'utf8' });
    for (const group of ['dsse', 'pki', 'topology', 'gateway', 'serve', 'stamper', 'guard', 'scanner', 'probe', 'evidence', 'demo']) assert.match(help, new RegExp(`^  ${group}\\b`, 'm'));
  });
});
