/** `resolveTopology` applies the limit defaults once (docs/topology.md#the-resolved-model): no renderer defaults anything. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { parseTopology } from '../../src/topology/load.js';
import { resolveTopology, type ResolvedTopology } from '../../src/topology/resolve.js';
import { DEFAULT_HOP_LIMITS, DEFAULT_WAF_SETTINGS } from '../../src/topology/schema.js';

type Doc = { hops: { id: string; kind: string; limits?: Record<string, number>; waf?: Record<string, number> }[] };

function load(edit: (doc: Doc) => void): ResolvedTopology {
  const doc = parse(readFileSync('examples/topology.yaml', 'utf8')) as Doc;
  for (const hop of doc.hops) {
    delete hop.limits;
    delete hop.waf;
  }
  edit(doc);
  return resolveTopology(parseTopology(stringify(doc)), '/srv/stella');
}

describe('resolveTopology limits', () => {
  it('gives a hop without limits or waf the documented defaults', () => {
    const topology = load(() => undefined);
    for (const hop of topology.hops) {
      assert.deepEqual(hop.limits, { maxBodyBytes: 16 * 1024 * 1024, maxArtifactBytes: 64 * 1024 * 1024, upstreamTimeoutSeconds: 60 });
      assert.deepEqual(hop.limits, DEFAULT_HOP_LIMITS);
      assert.deepEqual(hop.waf, { paranoiaLevel: 1, inboundAnomalyThreshold: 5 });
      assert.deepEqual(hop.waf, DEFAULT_WAF_SETTINGS);
    }
  });

  it('keeps the limits a hop sets and fills in only the others', () => {
    const topology = load((doc) => {
      doc.hops[0]!.limits = { maxBodyBytes: 1048576 };
      const waf = doc.hops.find((h) => h.kind === 'apache-modsecurity');
      assert.ok(waf, 'the example has a WAF hop');
      waf.waf = { paranoiaLevel: 3 };
    });
    assert.deepEqual(topology.hops[0]!.limits, { maxBodyBytes: 1048576, maxArtifactBytes: 64 * 1024 * 1024, upstreamTimeoutSeconds: 60 });
    assert.deepEqual(topology.hops.find((h) => h.kind === 'apache-modsecurity')!.waf, { paranoiaLevel: 3, inboundAnomalyThreshold: 5 });
  });

  it('does not share one defaults object between hops', () => {
    const [a, b] = load(() => undefined).hops;
    assert.notEqual(a!.limits, b!.limits);
    assert.notEqual(a!.limits, DEFAULT_HOP_LIMITS);
  });
});
