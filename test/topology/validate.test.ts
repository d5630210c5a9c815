import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTopology } from '../../src/topology/parse.js';
import type { TopologyProblem } from '../../src/topology/errors.js';
import { topologyHead } from '../support/topology.js';

/** A valid topology: nginx edge → opaque WAF → haproxy → locker. Each test breaks one thing. */
function valid(): Record<string, unknown> & { hops: Record<string, unknown>[]; services: Record<string, unknown>[]; scanners: Record<string, unknown>[] } {
  return {
    ...topologyHead(),
    hops: [
      { id: 'gw-edge', kind: 'nginx', listen: '127.0.0.1:8443', stamp: { via: 'native', keys: [{ kid: 'e1', file: './keys/e.key' }] }, next: 'waf' },
      { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8444', stamp: false, waf: { paranoiaLevel: 1 }, next: 'gw-internal' },
      { id: 'gw-internal', kind: 'haproxy', listen: '127.0.0.1:8445', stamp: { via: 'native', keys: [{ kid: 'i1', file: './keys/i.key' }] }, next: 'evidence-locker' },
    ],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', receiptKey: './keys/r.pem' }],
  };
}

function problems(mutate: (t: ReturnType<typeof valid>) => void): TopologyProblem[] {
  const t = valid();
  mutate(t);
  const result = checkTopology(t);
  return result.ok ? [] : result.problems;
}

const hop = (t: ReturnType<typeof valid>, i: number): Record<string, unknown> => t.hops[i]!;

describe('validateTopology', () => {
  it('accepts the valid reference topology', () => {
    assert.deepEqual(problems(() => {}), []);
  });

  it('accepts services[].access naming scanners of the topology, the last hop and a wildcard', () => {
    assert.deepEqual(
      problems((t) => (t.services[0]!.access = { readers: ['spiffe://stella.local/scanner/scanner-01'], ops: ['spiffe://stella.local/gateway/gw-internal', 'spiffe://stella.local/scanner/*', 'spiffe://stella.local/service/prometheus'] })),
      [],
    );
  });

  it('refuses access identities that cannot reach the service that way, each with its path', () => {
    const found = problems((t) => {
      t.services[0]!.access = {
        readers: ['spiffe://stella.local/gateway/gw-internal', 'spiffe://stella.local/scanner/nobody', 'spiffe://other.example/scanner/scanner-01'],
        ops: ['spiffe://stella.local/gateway/gw-nowhere', 'not-a-spiffe-id'],
      };
    });
    const paths = found.map((p) => p.path);
    assert.ok(paths.includes('services[0].access.readers[0]'), JSON.stringify(found));
    assert.match(found.find((p) => p.path === 'services[0].access.readers[0]')!.message, /scanners/);
    assert.ok(paths.includes('services[0].access.readers[1]'));
    assert.ok(paths.includes('services[0].access.readers[2]'));
    assert.ok(paths.includes('services[0].access.ops[0]'));
    assert.ok(paths.includes('services[0].access.ops[1]'));
  });

  it('accepts replicas of a SQLite locker on the host of its listen, and of a PostgreSQL one anywhere', () => {
    assert.deepEqual(problems((t) => (t.services[0]!.replicas = ['127.0.0.1:9444', '127.0.0.1:9445'])), []);
    assert.deepEqual(
      problems((t) => {
        t.services[0]!.replicas = ['10.0.0.2:9443'];
        t.services[0]!.storage = { kind: 'postgres', url: 'env:STELLA_PG' };
        t.hops[2]!.next = 'evidence-locker';
      }),
      [],
    );
  });

  it('refuses replicas that share a SQLite file across hosts, collide with a listener, or sit behind a registry guard', () => {
    assert.deepEqual(
      problems((t) => (t.services[0]!.replicas = ['10.0.0.2:9443'])).map((p) => p.path),
      ['services[0].replicas[0]'],
    );
    assert.match(problems((t) => (t.services[0]!.replicas = ['10.0.0.2:9443']))[0]!.message, /use storage kind postgres/);
    assert.deepEqual(problems((t) => (t.services[0]!.replicas = ['127.0.0.1:8445'])).map((p) => p.path), ['services[0].replicas[0]']);
    assert.deepEqual(problems((t) => (t.services[0]!.replicas = ['127.0.0.1:9443'])).map((p) => p.path), ['services[0].replicas[0]']);
  });

  it('refuses replicas on several hosts behind an Apache WAF, which reaches them by one serverName', () => {
    const found = problems((t) => {
      t.hops = [t.hops[0]!, { ...t.hops[1]!, next: 'evidence-locker' }];
      t.services[0]!.storage = { kind: 'postgres', url: 'env:STELLA_PG' };
      t.services[0]!.replicas = ['10.0.0.2:9443'];
    });
    assert.deepEqual(found.map((p) => p.path), ['hops[1].next']);
  });

  it('names a next that points nowhere with its path', () => {
    assert.deepEqual(problems((t) => (hop(t, 1).next = 'gw-intrnal')), [
      { path: 'hops[1].next', message: 'no hop or service "gw-intrnal"' },
      // gw-internal is now an edge of its own that does stamp; the locker is still reached.
      { path: 'scanners[0].edge', message: 'required when the topology has several edges (gw-edge, gw-internal)' },
    ]);
  });

  it('refuses a serverName that is not a host name, since configs write it unquoted', () => {
    assert.deepEqual(
      problems((t) => (hop(t, 2).serverName = 'localhost verify none')).map((p) => p.path),
      ['hops[2].serverName'],
    );
  });

  it('reports duplicate ids across hops and services', () => {
    const found = problems((t) => (t.services[0]!.id = 'waf'));
    assert.deepEqual(found[0], { path: 'services[0].id', message: 'duplicate id "waf" (already used by hops[1])' });
  });

  it('reports a scanner named like a hop, since CNs identify peers', () => {
    assert.deepEqual(problems((t) => (t.scanners[0]!.id = 'gw-edge')), [{ path: 'scanners[0].id', message: 'duplicate id "gw-edge" (already used by hops[0])' }]);
  });

  it('reports a cycle once, at the hop where it starts', () => {
    const found = problems((t) => (hop(t, 2).next = 'waf'));
    assert.deepEqual(found.filter((p) => p.message.startsWith('cycle')), [
      { path: 'hops[1].next', message: 'cycle waf → gw-internal → waf; a chain must end at a service' },
    ]);
    assert.ok(found.some((p) => p.path === 'hops[2].next' && p.message.includes('already follows hops[0]')));
  });

  it('reports two hops in front of the same target', () => {
    const found = problems((t) => (hop(t, 0).next = 'gw-internal'));
    assert.ok(found.some((p) => p.path === 'hops[1].next' && p.message === '"gw-internal" already follows hops[0] (gw-edge); each hop or service has one hop in front of it'));
  });

  it('reports a service no hop forwards to', () => {
    const found = problems((t) => t.services.push({ id: 'webservice', kind: 'scanner-webservice', listen: '127.0.0.1:9444' }));
    assert.deepEqual(found, [{ path: 'services[1]', message: 'no hop forwards to "webservice"; every service sits behind a chain' }]);
  });

  it('reports a chain longer than provenance.maxHops', () => {
    assert.deepEqual(problems((t) => (t.provenance = { maxHops: 2 })), [
      { path: 'services[0]', message: 'the chain to "evidence-locker" has 3 hops, more than provenance.maxHops (2)' },
    ]);
  });

  it('requires the edge hop to stamp', () => {
    const found = problems((t) => (hop(t, 0).stamp = false));
    assert.deepEqual(found, [{ path: 'hops[0].stamp', message: 'the edge hop must stamp: record 1 binds the scanner certificate to the traversal intent (docs/dsse.md, docs/provenance.md)' }]);
  });

  it('rejects native stamping on a kind that cannot compute the MAC', () => {
    assert.deepEqual(problems((t) => (hop(t, 0).kind = 'caddy')), [{ path: 'hops[0].stamp.via', message: 'caddy cannot compute the hop MAC natively; use via: forward-auth' }]);
  });

  it('rejects forward-auth on haproxy, and forward-auth without a stamper address', () => {
    const found = problems((t) => ((hop(t, 2).stamp as Record<string, unknown>).via = 'forward-auth'));
    assert.deepEqual(found, [
      { path: 'hops[2].stamp.via', message: 'haproxy cannot call a forward-auth stamper; use via: native' },
      { path: 'hops[2].stamp.stamper', message: 'required when via is forward-auth (socket: PATH, or listen: host:port for mTLS)' },
    ]);
  });

  it('requires a stamper on loopback, on an address nobody else listens on', () => {
    const found = problems((t) => (hop(t, 0).stamp = { via: 'forward-auth', keys: [{ kid: 'e1', file: 'k' }], stamper: { listen: '10.0.0.1:8444' } }));
    assert.deepEqual(found, [
      { path: 'hops[0].stamp.stamper.listen', message: 'must be a loopback address: the stamper serves the gateway next to it' },
    ]);
    const clash = problems((t) => (hop(t, 0).stamp = { via: 'forward-auth', keys: [{ kid: 'e1', file: 'k' }], stamper: { listen: '127.0.0.1:8444' } }));
    assert.deepEqual(clash, [{ path: 'hops[0].stamp.stamper.listen', message: '127.0.0.1:8444 is already the listen address of hops[1]' }]);
  });

  it('refuses two stampers on one socket path', () => {
    const found = problems((t) => {
      hop(t, 0).stamp = { via: 'forward-auth', keys: [{ kid: 'e1', file: 'k' }], stamper: { socket: './run/stamper.sock' } };
      Object.assign(hop(t, 2), { kind: 'nginx', stamp: { via: 'forward-auth', keys: [{ kid: 'i1', file: 'k' }], stamper: { socket: './run/stamper.sock' } } });
    });
    assert.deepEqual(found, [{ path: 'hops[2].stamp.stamper.socket', message: 'unix:./run/stamper.sock is already the listen address of hops[0].stamp.stamper.socket' }]);
  });

  it('requires apache-modsecurity to be opaque and keeps waf settings to it', () => {
    const found = problems((t) => {
      hop(t, 1).stamp = { via: 'native', keys: [{ kid: 'w', file: 'k' }] };
      hop(t, 0).waf = { paranoiaLevel: 2 };
    });
    assert.deepEqual(found, [
      { path: 'hops[0].waf', message: 'only apache-modsecurity hops take waf settings, not nginx' },
      { path: 'hops[1].stamp', message: 'an apache-modsecurity hop cannot stamp; set stamp: false (an opaque hop, docs/provenance.md#rules-for-every-hop, rule 2)' },
    ]);
  });

  it('reports duplicate kids within a hop and within a scanner', () => {
    const found = problems((t) => {
      (hop(t, 0).stamp as { keys: unknown[] }).keys.push({ kid: 'e1', file: 'other' });
      (t.scanners[0]!.signing as { keys: unknown[] }).keys.push({ kid: 's1', file: 'other' });
    });
    assert.deepEqual(found, [
      { path: 'hops[0].stamp.keys[1].kid', message: 'duplicate kid "e1"' },
      { path: 'scanners[0].signing.keys[1].kid', message: 'duplicate kid "s1"' },
    ]);
  });

  it('reports two listeners on one address', () => {
    assert.deepEqual(problems((t) => (t.services[0]!.listen = '127.0.0.1:8443')), [
      { path: 'services[0].listen', message: '127.0.0.1:8443 is already the listen address of hops[0]' },
    ]);
  });

  it('requires a scanner edge to be an edge hop', () => {
    assert.deepEqual(problems((t) => (t.scanners[0]!.edge = 'waf')), [{ path: 'scanners[0].edge', message: '"waf" is not an edge hop (edges: gw-edge)' }]);
    assert.deepEqual(problems((t) => (t.scanners[0]!.edge = 'gw-nowhere')), [{ path: 'scanners[0].edge', message: 'no hop "gw-nowhere"' }]);
  });

  it('requires a receipt key for an evidence locker and only there', () => {
    assert.deepEqual(problems((t) => delete t.services[0]!.receiptKey), [
      { path: 'services[0].receiptKey', message: 'required for an evidence-locker (it signs traversal receipts, docs/services.md)' },
    ]);
  });

  it('accepts a postgres url from the environment and rejects other strings', () => {
    assert.deepEqual(problems((t) => (t.services[0]!.storage = { kind: 'postgres', url: 'env:STELLA_PG_URL' })), []);
    assert.deepEqual(problems((t) => (t.services[0]!.storage = { kind: 'postgres', url: 'mysql://x' })), [
      { path: 'services[0].storage.url', message: 'must be a postgres:// or postgresql:// URL, or env:NAME to read it from the environment' },
    ]);
  });

  it('rejects an envelope threshold no scanner could meet', () => {
    assert.deepEqual(problems((t) => (t.services[0]!.envelopeThreshold = 2)), [
      { path: 'services[0].envelopeThreshold', message: '2 exceeds the 1 signing key(s) of a scanner; no envelope could pass' },
    ]);
  });

  it('refuses to strip a header the provenance MAC covers', () => {
    assert.deepEqual(problems((t) => (t.headers = { strip: ['X-Debug', 'Content-Digest'] })), [
      { path: 'headers.strip[1]', message: 'Content-Digest is part of the provenance protocol and must reach the services' },
    ]);
  });

  it('reports unknown fields, missing fields and bad values with their paths, all together', () => {
    const found = problems((t) => {
      hop(t, 0).colour = 'blue';
      delete hop(t, 1).listen;
      hop(t, 2).kind = 'traefik';
      (hop(t, 0).stamp as Record<string, unknown>).via = 'magic';
    });
    assert.deepEqual(found.map((p) => p.path).sort(), ['hops[0].colour', 'hops[0].stamp.via', 'hops[1].listen', 'hops[2].kind']);
    assert.equal(found.find((p) => p.path === 'hops[0].colour')?.message, 'unknown field');
    assert.equal(found.find((p) => p.path === 'hops[1].listen')?.message, 'required');
  });

  it('reports cross-field problems beside shape problems when the fields the rules read are usable', () => {
    const found = problems((t) => {
      hop(t, 0).listen = '127.0.0.1:99999';
      hop(t, 1).next = 'gw-intrnal';
    });
    assert.deepEqual(found.slice(0, 2), [
      { path: 'hops[0].listen', message: 'must be host:port with a port 1-65535, e.g. 127.0.0.1:8443' },
      { path: 'hops[1].next', message: 'no hop or service "gw-intrnal"' },
    ]);
  });

  it('holds the cross-field rules back when a field they read is missing, rather than guess', () => {
    assert.deepEqual(problems((t) => delete hop(t, 1).next), [{ path: 'hops[1].next', message: 'required' }]);
  });
});

describe('validateTopology for an oci-registry behind its guard', () => {
  const registry = (t: ReturnType<typeof valid>): void => {
    t.services[0] = { id: 'registry', kind: 'oci-registry', listen: '127.0.0.1:9543', registry: { listen: '127.0.0.1:9544' } };
    hop(t, 2).next = 'registry';
  };

  it('accepts a registry whose program listens on its own loopback address', () => {
    assert.deepEqual(problems(registry), []);
  });

  it('requires the registry block of an oci-registry', () => {
    assert.deepEqual(
      problems((t) => {
        registry(t);
        delete t.services[0]!.registry;
      }),
      [{ path: 'services[0].registry', message: 'required for an oci-registry (where the registry behind the guard listens, docs/topology.md#oci-registry)' }],
    );
  });

  it('refuses a registry reachable from outside the machine: only the guard may reach it', () => {
    assert.deepEqual(
      problems((t) => {
        registry(t);
        t.services[0]!.registry = { listen: '10.0.0.5:9544' };
      }).map((p) => p.path),
      ['services[0].registry.listen'],
    );
  });

  it('refuses a registry listening where the guard or a hop listens', () => {
    assert.deepEqual(
      problems((t) => {
        registry(t);
        t.services[0]!.registry = { listen: '127.0.0.1:9543' };
      }),
      [{ path: 'services[0].registry.listen', message: '127.0.0.1:9543 is already the listen address of services[0]' }],
    );
  });

  it('refuses a registry block on a service that verifies provenance itself', () => {
    assert.deepEqual(
      problems((t) => (t.services[0]!.registry = { listen: '127.0.0.1:9544' })),
      [{ path: 'services[0].registry', message: 'only an oci-registry has a registry behind it; an evidence-locker verifies provenance itself' }],
    );
  });
});
