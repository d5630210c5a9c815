/**
 * Subpath exports by purity (README.md#use-it-as-a-library): each entry point of the built package,
 * imported by its name in a fresh Node process, loads only the libraries its purpose needs. The
 * pure ones (`./provenance`, `./dsse`, `./pki`, `./topology`, `./gateways`, `./evidence`) load no
 * HTTP server or client, database driver, metrics registry, logger or protobuf runtime; the adapters,
 * replay stores, stamper and enrollment endpoint have their own entry points. Every export must
 * resolve to its built file, and every export must be listed here, so a new one gets a decision.
 * Needs the build (`npm run build`), which CI runs before the tests.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; exports: Record<string, { types: string; default: string } | string> };

/** The libraries no pure entry point may load. */
const HEAVY = ['fastify', 'fastify-plugin', 'pg', 'prom-client', 'undici', 'pino', 'protobufjs', '@grpc/grpc-js-xds', 'better-sqlite3'] as const;
type Heavy = (typeof HEAVY)[number];

/** What each entry point may load: `loads` must be there (the detector works), everything else in HEAVY must not, unless `allows` it. */
const EXPECTED: Record<string, { readonly loads?: readonly Heavy[]; readonly allows?: readonly Heavy[] }> = {
  './dsse': {},
  './pki': {},
  './pki/dispatcher': { loads: ['undici'] },
  './pki/enrollment': { loads: ['fastify', 'undici'] },
  './provenance': {},
  './provenance/fastify': { loads: ['fastify-plugin', 'prom-client'], allows: ['fastify'] },
  './provenance/replay/sqlite': { allows: ['better-sqlite3'] },
  './provenance/replay/postgres': { loads: ['pg'] },
  './provenance/node': { loads: ['prom-client'] },
  './provenance/stamper': { loads: ['fastify', 'prom-client'], allows: ['pino'] },
  './topology': {},
  './gateways': {},
  './storage': { loads: ['pg'], allows: ['better-sqlite3'] },
  './evidence': {},
};

// A resolve hook (module.register) that appends every URL the ESM loader resolves to a file; the
// CommonJS packages those load in turn are in require.cache. Together: every package the import loaded.
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(out, result.url + '\\n');
  return result;
}`)}`;

/** Imports `specifier` in a fresh process; the packages it loaded and the URL the specifier resolved to. */
function load(specifier: string): { packages: Set<string>; resolved: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stella-exports-'));
  const out = join(dir, 'resolved.txt');
  try {
    const script = [
      "import { createRequire, register } from 'node:module';",
      `register(${JSON.stringify(HOOK)}, { data: { out: ${JSON.stringify(out)} } });`,
      `await import(${JSON.stringify(specifier)});`,
      "const require = createRequire(process.cwd() + '/');",
      `process.stdout.write(JSON.stringify({ cjs: Object.keys(require.cache), resolved: import.meta.resolve(${JSON.stringify(specifier)}) }));`,
    ].join('\n');
    const result = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { cjs: string[]; resolved: string };
    const urls = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];
    const packages = new Set([...urls, ...result.cjs].map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1]).filter((p): p is string => p !== undefined));
    return { packages, resolved: result.resolved };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the package entry points', () => {
  const subpaths = Object.entries(manifest.exports).filter((entry): entry is [string, { types: string; default: string }] => typeof entry[1] !== 'string');

  it('are built from the sources as they are now (a stale dist/ would test old code)', () => {
    const newestSource = readdirSync('src', { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => ({ f, ms: statSync(join('src', f)).mtimeMs }))
      .reduce((a, b) => (b.ms > a.ms ? b : a));
    for (const [subpath, target] of subpaths) {
      if (!existsSync(target.default)) continue; // reported by its own test below
      assert.ok(statSync(target.default).mtimeMs >= newestSource.ms, `${target.default} (${subpath}) is older than src/${newestSource.f}: run npm run build`);
    }
  });

  it('are each listed here with what they may load', () => {
    assert.deepEqual(subpaths.map(([subpath]) => subpath).sort(), Object.keys(EXPECTED).sort());
  });

  for (const [subpath, target] of subpaths) {
    const expected = EXPECTED[subpath] ?? {};
    const pure = (expected.loads ?? []).length === 0 && (expected.allows ?? []).length === 0;
    it(`${subpath} resolves to its built file and ${pure ? 'loads no I/O library' : `loads ${(expected.loads ?? []).join(', ') || 'only what it allows'}`}`, () => {
      assert.ok(existsSync(target.default), `${target.default} is missing: run npm run build`);
      const { packages, resolved } = load(`${manifest.name}${subpath.slice(1)}`);
      assert.equal(resolved, pathToFileURL(resolve(target.default)).href);
      for (const name of expected.loads ?? []) assert.ok(packages.has(name), `${subpath} should load ${name} (loaded: ${[...packages].join(', ')})`);
      const forbidden = HEAVY.filter((name) => !(expected.loads ?? []).includes(name) && !(expected.allows ?? []).includes(name) && packages.has(name));
      assert.deepEqual(forbidden, [], `${subpath} loads ${forbidden.join(', ')}`);
    });
  }

  it('mark only the CLI entry as having import side effects', () => {
    const { sideEffects } = JSON.parse(readFileSync('package.json', 'utf8')) as { sideEffects: unknown };
    assert.deepEqual(sideEffects, ['./dist/cli/entry.js']);
    const bin = readFileSync('bin/stella-gateway.js', 'utf8');
    assert.match(bin, /^import '\.\.\/dist\/cli\/entry\.js';$/m);
  });
});
