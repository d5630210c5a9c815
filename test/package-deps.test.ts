/**
 * Runtime dependencies are only what runs (docs/gateways/envoy.md#the-check-is-an-optional-install):
 * the Envoy API check's packages are optional peers, installed for development only, never loaded
 * by importing the package, and asked for by name when missing. Uses the build (`npm run build`).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ENVOY_CHECK_INSTALL, ENVOY_CHECK_PACKAGES } from '../src/gateways/envoy/lazy-check.js';
import { tempDir } from './support/tmp.js';

interface Manifest {
  name: string;
  exports: Record<string, { default: string } | string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { dev?: boolean }> };
const OPTIONAL = Object.keys(ENVOY_CHECK_PACKAGES);

describe('the Envoy check packages', () => {
  it('are optional peer dependencies with the ranges the loader names, and development dependencies, never runtime ones', () => {
    assert.deepEqual(manifest.peerDependencies, { ...ENVOY_CHECK_PACKAGES });
    for (const name of OPTIONAL) {
      assert.equal(manifest.peerDependenciesMeta?.[name]?.optional, true, `${name} is not an optional peer`);
      assert.equal(manifest.dependencies[name], undefined, `${name} is still a runtime dependency`);
      assert.ok(manifest.devDependencies[name], `${name} is missing from devDependencies: the tests run the check`);
      // npm ci --omit=dev leaves out what the lock marks dev.
      assert.equal(lock.packages[`node_modules/${name}`]?.dev, true, `package-lock.json does not mark ${name} dev`);
    }
  });

  it('are not loaded by importing any entry point of the package or building the CLI', () => {
    const imports = Object.entries(manifest.exports)
      .filter(([, target]) => typeof target !== 'string')
      .map(([subpath]) => `await import('${manifest.name}${subpath.slice(1)}');`);
    // protobufjs is CommonJS: importing it from ESM enters it in the CommonJS cache.
    const script = `${imports.join('\n')}
const { buildProgram } = await import('./dist/cli/main.js');
buildProgram();
const { createRequire } = await import('node:module');
const cache = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(JSON.stringify(cache.filter((f) => /node_modules\\/(protobufjs|@grpc)\\//.test(f))));`;
    const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
    assert.deepEqual(loaded, []);
  });
});

describe('an install without the Envoy check packages', () => {
  // A copy of the built package whose node_modules has everything but those packages.
  const dir = tempDir('stella-noenvoy-');
  after(() => dir.remove());
  const root = dir.path;
  for (const entry of ['bin', 'dist', 'examples', 'package.json']) cpSync(entry, join(root, entry), { recursive: true });
  mkdirSync(join(root, 'node_modules'));
  for (const entry of readdirSync('node_modules')) {
    if (entry === '@grpc' || entry === 'protobufjs') continue;
    symlinkSync(resolve('node_modules', entry), join(root, 'node_modules', entry));
  }
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/stella-gateway.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

  it('refuses gateway check-envoy with exit 2 and one line naming the install command', () => {
    const file = join(root, 'envoy.yaml');
    writeFileSync(file, 'static_resources: {}\n');
    const result = cli('gateway', 'check-envoy', file);
    assert.equal(result.status, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^stella-gateway gateway check-envoy: the Envoy API check needs @grpc\/grpc-js-xds and protobufjs, not installed here/);
    assert.ok(result.stderr.includes(ENVOY_CHECK_INSTALL), result.stderr);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });

  it('still renders every hop, the Envoy hop included, and runs --help', () => {
    const out = join(root, 'gw');
    const result = cli('gateway', 'render', '--topology', join(root, 'examples/topology-envoy.yaml'), '--out', out);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(readdirSync(out, { recursive: true }).some((f) => String(f).endsWith('envoy.yaml')));
    assert.equal(cli('--help').status, 0);
  });
});
