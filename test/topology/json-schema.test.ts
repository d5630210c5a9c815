import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderTopologyJsonSchema, topologyJsonSchema } from '../../src/topology/json-schema.js';

describe('the published JSON Schema', () => {
  it('is the committed schema/topology.schema.json (regenerate: stella-gateway topology schema --out schema/topology.schema.json)', () => {
    assert.equal(readFileSync('schema/topology.schema.json', 'utf8'), renderTopologyJsonSchema());
  });

  it('leaves fields with defaults optional, as they are in a file', () => {
    const schema = topologyJsonSchema() as { required: string[]; additionalProperties: boolean };
    assert.deepEqual([...schema.required].sort(), ['apiVersion', 'hops', 'kind', 'name', 'pki', 'scanners', 'services', 'trustDomain']);
    assert.equal(schema.additionalProperties, false);
  });

  it('lists the hop kinds and the hop id pattern of docs/provenance.md', () => {
    const hop = (topologyJsonSchema() as { properties: { hops: { items: { properties: Record<string, { enum?: string[]; pattern?: string }> } } } }).properties.hops.items;
    assert.deepEqual(hop.properties.kind?.enum, ['nginx', 'haproxy', 'apache-modsecurity', 'caddy', 'envoy']);
    assert.equal(hop.properties.id?.pattern, '^[a-z][a-z0-9.-]{0,62}$');
  });
});
