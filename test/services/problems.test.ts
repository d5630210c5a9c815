import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_PROBLEMS } from '../../src/services/common/problems.js';
import { PROVENANCE_PROBLEMS } from '../../src/provenance/problems.js';

describe('service problem registry', () => {
  it('agrees with the table in docs/services.md, code by code and status by status', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'services.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Problem codes'));
    const rows = [...section.matchAll(/^\| `([a-z-]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(rows, Object.entries(SERVICE_PROBLEMS).map(([code, { status }]) => [code, status]));
  });

  it('shares no code with the provenance registry', () => {
    for (const code of Object.keys(SERVICE_PROBLEMS)) assert.ok(!(code in PROVENANCE_PROBLEMS), `${code} is in both registries`);
  });

  it('gives no client mistake a 5xx', () => {
    const serverSide = Object.entries(SERVICE_PROBLEMS).filter(([, p]) => p.status >= 500).map(([code]) => code);
    assert.deepEqual(serverSide.sort(), ['internal-error', 'not-ready', 'storage-unavailable', 'upstream-unavailable']);
  });
});
