import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { topologySchema } from '../../src/topology/schema.js';
import { topologyHead } from '../support/topology.js';

// The published JSON Schema, checked by an independent validator (ajv), must accept exactly the
// documents whose shape `topology validate` accepts (docs/topology.md#the-json-schema).
const published = JSON.parse(readFileSync('schema/topology.schema.json', 'utf8')) as Record<string, unknown>;
const schemaValid = new Ajv2020({ strict: true, allErrors: false }).compile(published);
const shapeValid = (doc: unknown): boolean => topologySchema.safeParse(doc).success;

function base(): Record<string, unknown> {
  return {
    ...topologyHead(),
    hops: [
      { id: 'gw-edge', kind: 'nginx', listen: '127.0.0.1:8443', stamp: { via: 'forward-auth', keys: [{ kid: 'e1', file: './e.key' }], stamper: { listen: '127.0.0.1:7101' } }, next: 'waf' },
      { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8444', stamp: false, waf: { paranoiaLevel: 1 }, limits: { maxBodyBytes: 1024 }, next: 'evidence-locker' },
    ],
    services: [
      { id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', storage: { kind: 'sqlite', file: './l.db' }, access: { readers: ['spiffe://stella.local/scanner/scanner-01'] } },
    ],
    provenance: { maxHops: 8 },
    headers: { strip: ['x-debug'] },
  };
}

/** Every field a mutation may touch, as a path into {@link base}. */
const PATHS: readonly (readonly (string | number)[])[] = [
  ['apiVersion'], ['kind'], ['name'], ['trustDomain'], ['pki', 'dir'], ['pki', 'reloadSeconds'], ['pki', 'crl'],
  ['scanners', 0, 'id'], ['scanners', 0, 'edge'], ['scanners', 0, 'signing', 'keys'], ['scanners', 0, 'signing', 'keys', 0, 'kid'],
  ['hops', 0, 'id'], ['hops', 0, 'kind'], ['hops', 0, 'listen'], ['hops', 0, 'serverName'], ['hops', 0, 'stamp'], ['hops', 0, 'stamp', 'via'],
  ['hops', 0, 'stamp', 'keys'], ['hops', 0, 'stamp', 'stamper', 'listen'], ['hops', 0, 'next'], ['hops', 0, 'tls'],
  ['hops', 1, 'waf', 'paranoiaLevel'], ['hops', 1, 'waf', 'inboundAnomalyThreshold'], ['hops', 1, 'limits', 'maxBodyBytes'], ['hops', 1, 'limits', 'upstreamTimeoutSeconds'],
  ['services', 0, 'id'], ['services', 0, 'kind'], ['services', 0, 'listen'], ['services', 0, 'storage'], ['services', 0, 'storage', 'kind'],
  ['services', 0, 'envelopeThreshold'], ['services', 0, 'maxBodyBytes'], ['services', 0, 'access', 'readers', 0], ['services', 0, 'access', 'ops'],
  ['provenance', 'maxHops'], ['provenance', 'clockSkewSeconds'], ['provenance', 'maxAgeSeconds'], ['provenance', 'maxHeaderBytes'],
  ['headers', 'strip', 0], ['unknownField'], ['hops', 0, 'unknownField'], ['$schema'],
];

/** Values near every rule's edge: ports, ids, ranges, types. */
const VALUES = fc.oneof(
  fc.constantFrom<unknown>(
    undefined, null, true, false, 0, 1, -1, 1.5, 4, 5, 16, 17, 32, 33, 255, 256, 600, 601, 3600, 3601, 65536, 2 ** 53, -0, Number.POSITIVE_INFINITY,
    '', '.', '..', '...', 'a', 'A', 'a.b', '-a', 'scanner-01', 'x'.repeat(64), 'x'.repeat(65), 'gw-edge', 'evidence-locker', 'waf',
    '127.0.0.1:0', '127.0.0.1:1', '127.0.0.1:65535', '127.0.0.1:65536', '127.0.0.1:70000', '127.0.0.1:08443', '[::1]:8443', 'host:99999', 'localhost:443', '127.0.0.1',
    'nginx', 'envoy', 'native', 'forward-auth', 'sqlite', 'postgres', 'stella-gateway/v1', 'Topology',
    'spiffe://stella.local/scanner/*', 'spiffe://stella.local/scanner/..', 'spiffe://stella.local/scanner/.', 'spiffe://stella.local/robot/x',
    [], [{}], [{ kid: 'k', file: 'f' }], {}, { cert: 'c', key: 'k' }, { kind: 'postgres', url: 'env:PG' }, { kind: 'sqlite' },
  ),
  fc.integer({ min: -70000, max: 70000 }).map((port) => `127.0.0.1:${port}`),
  fc.string({ maxLength: 8 }),
  fc.integer(),
);

function set(doc: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let at: Record<string | number, unknown> = doc;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null) return; // an earlier mutation removed the parent
    at = next as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (value === undefined) delete at[last];
  else at[last] = value;
}

describe('the published JSON Schema and topology validate (property)', () => {
  it('agree on every random topology: schema-valid ⇔ shape-valid', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...PATHS), VALUES), { maxLength: 4 }), (mutations) => {
        const doc = base();
        for (const [path, value] of mutations) set(doc, path, value);
        assert.equal(schemaValid(doc), shapeValid(doc), `ajv says ${String(schemaValid(doc))}, zod says ${String(shapeValid(doc))}: ${JSON.stringify(doc)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('agree on the cases the issue named: ports 0 and 70000, scanner ids "." and ".."', () => {
    for (const [path, value] of [
      [['hops', 0, 'listen'], '127.0.0.1:0'],
      [['hops', 0, 'listen'], '127.0.0.1:70000'],
      [['services', 0, 'listen'], '127.0.0.1:65536'],
      [['scanners', 0, 'id'], '.'],
      [['scanners', 0, 'id'], '..'],
    ] as const) {
      const doc = base();
      set(doc, path, value);
      assert.equal(schemaValid(doc), false, `schema accepts ${JSON.stringify(value)}`);
      assert.equal(shapeValid(doc), false, `validate accepts ${JSON.stringify(value)}`);
    }
    assert.equal(schemaValid(base()), true);
    assert.equal(shapeValid(base()), true);
  });
});
