/**
 * The published JSON Schema of a topology file (docs/topology.md: "the schema is written once in
 * TypeScript and exported as a JSON Schema file that editors can use"). Generated from the zod
 * schema in *input* mode, so fields with defaults are optional as they are in a file.
 * `schema/topology.schema.json` is this output; a test fails when the committed file is stale;
 * regenerate with `stella-gateway topology schema --out schema/topology.schema.json`.
 */
import { z } from 'zod';
import { topologySchema } from './schema.js';

/** The `$id` of the published schema; editors key their cache on it. */
export const TOPOLOGY_SCHEMA_ID = 'https://stella-ops.org/schemas/stella-gateway/topology-v1.schema.json';

/** The JSON Schema (draft 2020-12) of a topology document, as an object. */
export function topologyJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(topologySchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: TOPOLOGY_SCHEMA_ID,
    title: 'Stella Gateway topology',
    description: 'One deployment: scanners, the chain of gateway hops, services, keys and provenance limits (docs/topology.md).',
    ...rest,
  };
}

/** The schema file's exact text: two-space JSON and a final newline. */
export function renderTopologyJsonSchema(): string {
  return `${JSON.stringify(topologyJsonSchema(), null, 2)}\n`;
}
