/**
 * One rule, one place: the topology's `name` (docs/topology.md#fields) is what the traversal
 * intent's `topology` must be (docs/dsse.md#in-toto-traversal-intent). The two checks once
 * differed (the intent took upper case and `_`); both now read the conventions floor.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { buildScanArtifactStatement, type TraversalIntent } from '../../src/dsse/index.js';
import { checkTopology } from '../../src/topology/parse.js';

const EXAMPLE = parse(readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'topology.yaml'), 'utf8')) as Record<string, unknown>;

/** Whether the topology schema takes `name` (the example is otherwise valid, so any problem is the name's). */
function topologyAccepts(name: string): boolean {
  const checked = checkTopology({ ...EXAMPLE, name });
  if (checked.ok) return true;
  assert.ok(checked.problems.every((p) => p.path === 'name'), `only the name is wrong: ${JSON.stringify(checked.problems)}`);
  return false;
}

/** Whether the in-toto predicate check takes `topology`. */
function intentAccepts(topology: string): boolean {
  const intent: TraversalIntent = {
    scanId: 'scan-42',
    topology,
    edgeHop: 'gw-edge',
    clientCertSha256: `sha256:${'ab'.repeat(32)}`,
    nonce: '4f9c0d2e8a7b6c5d',
    issuedAt: '2026-11-28T18:00:00Z',
  };
  try {
    buildScanArtifactStatement({ artifact: { name: 'sbom.json', sha256: 'cd'.repeat(32) }, intent });
    return true;
  } catch (error) {
    assert.ok(error instanceof TypeError);
    return false;
  }
}

describe('the topology name rule', () => {
  it('accepts and refuses the same names in the topology and in the traversal intent', () => {
    for (const name of ['demo', 'prod.eu-1', `t${'x'.repeat(62)}`, `t${'x'.repeat(63)}`, 'Demo', 'demo_1', '.demo', '9demo', '']) {
      assert.equal(intentAccepts(name), topologyAccepts(name), JSON.stringify(name));
    }
    assert.equal(topologyAccepts('Demo_1'), false, 'upper case and _ are not topology names (docs/topology.md#fields)');
  });

  it('agrees on any name drawn from the characters either rule ever took', () => {
    const chars = fc.constantFrom(...'aZz09._-:'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: chars, minLength: 0, maxLength: 70 }), (name) => {
        assert.equal(intentAccepts(name), topologyAccepts(name));
      }),
      { numRuns: 300 },
    );
  });
});
