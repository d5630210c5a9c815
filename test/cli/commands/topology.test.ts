import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.js';
import { tempDir } from '../../support/tmp.js';

/**
 * Runs the CLI in-process, capturing the text it writes. The test runner itself reports through
 * stdout in binary frames meanwhile, so non-string chunks pass through untouched.
 */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const capture = (into: string[], original: typeof process.stdout.write) =>
    ((chunk: string | Uint8Array, ...rest: never[]) => (typeof chunk === 'string' ? (into.push(chunk), true) : original(chunk, ...rest))) as typeof process.stdout.write;
  process.stdout.write = capture(out, write.out);
  process.stderr.write = capture(err, write.err);
  try {
    const code = await main(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

describe('stella-gateway topology', () => {
  const tmp = tempDir();
  after(tmp.remove);
  const broken = join(tmp.path, 'broken.yaml');
  writeFileSync(broken, readFileSync('examples/topology.yaml', 'utf8').replace('next: gw-internal', 'next: gw-intrnal').replace('paranoiaLevel: 1', 'paranoiaLevel: 9'));

  it('validate prints the chain and exits 0 for a valid file', async () => {
    const { code, stdout } = await run('topology', 'validate', 'examples/topology.yaml', '--no-files');
    assert.equal(code, 0);
    assert.match(stdout, /scanner-01 \| scanner-02 → gw-edge \(nginx, seq 1\) → waf \(apache-modsecurity, opaque\) → gw-internal \(haproxy, seq 2\) → evidence-locker/);
  });

  it('validate accepts the Envoy example, whose edge stamps through its forward-auth stamper', async () => {
    const { code, stdout } = await run('topology', 'validate', 'examples/topology-envoy.yaml', '--no-files', '--json');
    assert.equal(code, 0);
    const result = JSON.parse(stdout) as { valid: boolean; services: { chain: { id: string; kind: string; stampSeq: number | null }[] }[] };
    assert.equal(result.valid, true);
    assert.deepEqual(result.services[0]!.chain[0], { id: 'gw-edge', kind: 'envoy', stampSeq: 1 });
  });

  it('validate checks files by default and lists each missing one', async () => {
    const { code, stdout } = await run('topology', 'validate', 'examples/topology.yaml');
    assert.equal(code, 2);
    assert.match(stdout, /^hops\[0\]\.stamp\.keys\[0\]\.file: file not found: .*examples\/keys\/gw-edge\.key$/m);
  });

  it('validate --json lists shape and cross-field problems together and exits 2', async () => {
    const { code, stdout } = await run('topology', 'validate', broken, '--json', '--no-files');
    assert.equal(code, 2);
    const result = JSON.parse(stdout) as { valid: boolean; code: string; problems: { path: string; message: string }[] };
    assert.equal(result.valid, false);
    assert.equal(result.code, 'TOPOLOGY_INVALID');
    assert.deepEqual(result.problems.map((p) => p.path), ['hops[1].waf.paranoiaLevel', 'hops[1].next', 'scanners[0].edge', 'scanners[1].edge']);
  });

  it('validate prints each problem as path: message', async () => {
    writeFileSync(broken, readFileSync('examples/topology.yaml', 'utf8').replace('next: gw-internal', 'next: gw-intrnal'));
    const { code, stdout } = await run('topology', 'validate', broken, '--no-files');
    assert.equal(code, 2);
    assert.match(stdout, /^hops\[1\]\.next: no hop or service "gw-intrnal"$/m);
  });

  it('schema prints the committed JSON Schema', async () => {
    const { code, stdout } = await run('topology', 'schema');
    assert.equal(code, 0);
    assert.equal(stdout, readFileSync('schema/topology.schema.json', 'utf8'));
  });

  it('graph draws the chain and refuses an unknown format with exit 2', async () => {
    const svg = await run('topology', 'graph', 'examples/topology.yaml', '--format', 'svg');
    assert.equal(svg.code, 0);
    assert.match(svg.stdout, /^<svg /);
    const bad = await run('topology', 'graph', 'examples/topology.yaml', '--format', 'png');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are mermaid, dot, svg/);
  });
});
