import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTopology } from '../../src/topology/load.js';
import { resolveTopology } from '../../src/topology/resolve.js';
import { renderGraph, topologyGraph } from '../../src/topology/graph.js';

const topology = resolveTopology(parseTopology(readFileSync('examples/topology.yaml', 'utf8')), '/t');

describe('topology graph', () => {
  it('links each scanner to its edge and each hop to its next, in chain columns', () => {
    const { nodes, edges } = topologyGraph(topology);
    assert.deepEqual(edges, [
      ['scanner:scanner-01', 'hop:gw-edge'],
      ['scanner:scanner-02', 'hop:gw-edge'],
      ['hop:gw-edge', 'hop:waf'],
      ['hop:waf', 'hop:gw-internal'],
      ['hop:gw-internal', 'service:evidence-locker'],
    ]);
    assert.deepEqual(nodes.map((n) => [n.key, n.column, n.opaque]), [
      ['scanner:scanner-01', 0, false],
      ['scanner:scanner-02', 0, false],
      ['hop:gw-edge', 1, false],
      ['hop:waf', 2, true],
      ['hop:gw-internal', 3, false],
      ['service:evidence-locker', 4, false],
    ]);
  });

  it('draws a replicated service as one node that says how many replicas run', () => {
    const replicated = resolveTopology(parseTopology(readFileSync('examples/topology.yaml', 'utf8').replace(/(\n {4}kind: evidence-locker\n)/, '$1    replicas: [127.0.0.1:9544, 127.0.0.1:9545]\n')), '/t');
    assert.equal(replicated.services[0]!.replicas?.length, 2);
    assert.match(renderGraph(replicated, 'mermaid'), /service_evidence_locker\[\("evidence-locker<br\/>evidence-locker · 3 replicas"\)\]/);
  });

  it('marks stamping and opaque hops in Mermaid', () => {
    const text = renderGraph(topology, 'mermaid');
    assert.match(text, /^flowchart LR\n/);
    assert.match(text, /hop_gw_internal\["gw-internal<br\/>haproxy · stamps seq 2 \(native\)"\]/);
    assert.match(text, /class hop_waf opaque/);
  });

  it('writes DOT with one edge per arrow and dashed opaque hops', () => {
    const text = renderGraph(topology, 'dot');
    assert.equal(text.match(/ -> /g)?.length, 5);
    assert.match(text, /"hop:waf" \[label="waf\\napache-modsecurity · opaque", shape=box, style=dashed\];/);
  });

  it('draws an SVG with a box per node and a line per arrow', () => {
    const text = renderGraph(topology, 'svg');
    assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="1272" height="152"/);
    assert.equal(text.match(/<rect /g)?.length, 6);
    assert.equal(text.match(/<line /g)?.length, 5);
    assert.ok(text.includes('>gw-edge</text>'));
  });
});
