import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { parseTopology } from '../../src/topology/load.js';
import { resolveTopology, type ResolvedHop, type ResolvedTopology } from '../../src/topology/resolve.js';
import { HOP_PROCESSING_SECONDS, SERVICE_REQUEST_TIMEOUT_SECONDS, TIMEOUT_MARGIN_SECONDS, hopTimeouts, scannerTimeoutSeconds } from '../../src/topology/timeouts.js';

const EXAMPLES = ['examples/topology.yaml', 'examples/topology-caddy.yaml', 'examples/topology-envoy.yaml'];

function load(file: string, edit: (doc: { hops: { id: string; limits?: Record<string, number> }[] }) => void = () => undefined): ResolvedTopology {
  const doc = parse(readFileSync(file, 'utf8')) as { hops: { id: string; limits?: Record<string, number> }[] };
  edit(doc);
  return resolveTopology(parseTopology(stringify(doc)), '/srv/stella');
}

/** The hops from the edge to the service, in order. */
function chainOf(topology: ResolvedTopology): ResolvedHop[] {
  const hops: ResolvedHop[] = [];
  let hop: ResolvedHop | undefined = topology.hops.find((h) => !topology.hops.some((o) => o.next === h.id));
  while (hop) {
    hops.push(hop);
    hop = hop.nextTarget.type === 'hop' ? hop.nextTarget.hop : undefined;
  }
  return hops;
}

/** Each part must wait longer than everything behind it may take (docs/gateways/README.md#timeouts). */
function assertOrdered(topology: ResolvedTopology): void {
  const hops = chainOf(topology);
  const last = hops[hops.length - 1]!;
  assert.ok(hopTimeouts(last).upstreamSeconds >= SERVICE_REQUEST_TIMEOUT_SECONDS + TIMEOUT_MARGIN_SECONDS, `${last.id} waits for the service`);
  for (let i = 0; i + 1 < hops.length; i++) {
    const outer = hops[i]!;
    const inner = hops[i + 1]!;
    assert.ok(
      hopTimeouts(outer).upstreamSeconds >= hopTimeouts(inner).upstreamSeconds + HOP_PROCESSING_SECONDS[inner.kind] + TIMEOUT_MARGIN_SECONDS,
      `${outer.id} waits longer than ${inner.id} may take`,
    );
    assert.ok(hopTimeouts(inner).clientSeconds >= hopTimeouts(inner).upstreamSeconds, `${inner.id} does not drop its client first`);
  }
  const scanner = topology.scanners[0]!;
  assert.ok(scannerTimeoutSeconds(topology, scanner.id)! > hopTimeouts(hops[0]!).upstreamSeconds + HOP_PROCESSING_SECONDS[hops[0]!.kind], 'the worker waits longest');
}

describe('hopTimeouts', () => {
  for (const file of EXAMPLES) {
    it(`orders the timeouts of ${file} from the worker down to the service`, () => assertOrdered(load(file)));
  }

  it('gives the reference chain 60 s at HAProxy, 67 s at the WAF, 87 s at the edge and 94 s to the worker', () => {
    const topology = load('examples/topology.yaml');
    const wait = (id: string): number => hopTimeouts(topology.hops.find((h) => h.id === id)!).upstreamSeconds;
    assert.deepEqual([wait('gw-internal'), wait('waf'), wait('gw-edge')], [60, 67, 87]);
    assert.equal(scannerTimeoutSeconds(topology, 'scanner-01'), 94);
  });

  it('raises the hops in front of a hop whose floor is higher, keeping the order', () => {
    const topology = load('examples/topology.yaml', (doc) => {
      const internal = doc.hops.find((h) => h.id === 'gw-internal')!;
      internal.limits = { upstreamTimeoutSeconds: 300 };
    });
    assertOrdered(topology);
    assert.equal(hopTimeouts(topology.hops.find((h) => h.id === 'gw-internal')!).upstreamSeconds, 300);
    assert.equal(hopTimeouts(topology.hops.find((h) => h.id === 'gw-edge')!).upstreamSeconds, 300 + 2 + 5 + 15 + 5);
  });

  it('never lets a floor set on the edge lower what the inner hops need', () => {
    const topology = load('examples/topology.yaml', (doc) => {
      for (const hop of doc.hops) hop.limits = { upstreamTimeoutSeconds: 1 };
    });
    assertOrdered(topology);
    assert.equal(hopTimeouts(topology.hops.find((h) => h.id === 'gw-internal')!).upstreamSeconds, SERVICE_REQUEST_TIMEOUT_SECONDS + TIMEOUT_MARGIN_SECONDS);
    assert.equal(hopTimeouts(topology.hops.find((h) => h.id === 'gw-internal')!).connectSeconds, 5);
  });

  it('has no worker timeout for a scanner the topology does not name', () => {
    assert.equal(scannerTimeoutSeconds(load('examples/topology.yaml'), 'nobody'), undefined);
  });
});
