/**
 * The error registries (docs/CONVENTIONS.md#the-error-registry): every code is defined once in the
 * product, every code is documented in a table of docs/, and where a docs table gives a code's
 * HTTP status, exit code or retry rule, it is the registry's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DSSE_ERRORS } from '../../src/dsse/errors.js';
import { EVIDENCE_ERRORS } from '../../src/evidence/errors.js';
import { GATEWAY_ERRORS } from '../../src/gateways/errors.js';
import { IO_ERRORS } from '../../src/io/errors.js';
import { OBSERVE_ERRORS } from '../../src/observe/errors.js';
import { PKI_ERRORS } from '../../src/pki/errors.js';
import { PROVENANCE_RUNTIME_ERRORS } from '../../src/provenance/errors.js';
import { PROVENANCE_ERRORS } from '../../src/provenance/problems.js';
import { REGISTRY_ERRORS } from '../../src/registry/errors.js';
import { SCANNER_ERRORS } from '../../src/scanner/errors.js';
import { SERVICE_ERRORS, SERVICE_START_ERRORS } from '../../src/services/common/problems.js';
import { STORAGE_ERRORS } from '../../src/storage/errors.js';
import { TOPOLOGY_ERRORS } from '../../src/topology/errors.js';
import { defineErrors, type AnyErrorRegistry, type ErrorSpec } from '../../src/errors/registry.js';

const ROOT = join(import.meta.dirname, '../..');

/** Every registry of the product; the first test proves none is missing from this list. */
const REGISTRIES: readonly AnyErrorRegistry[] = [
  DSSE_ERRORS, PKI_ERRORS, TOPOLOGY_ERRORS, PROVENANCE_ERRORS, PROVENANCE_RUNTIME_ERRORS, SCANNER_ERRORS, REGISTRY_ERRORS,
  EVIDENCE_ERRORS, SERVICE_ERRORS, SERVICE_START_ERRORS, STORAGE_ERRORS, OBSERVE_ERRORS, GATEWAY_ERRORS, IO_ERRORS,
];

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(suffix)).map((f) => join(dir, f));
}

/** One row of a docs table that has a `code` column: the cells by lower-cased header. */
interface DocRow {
  readonly file: string;
  readonly code: string;
  readonly cells: Readonly<Record<string, string>>;
}

/** Every row of every markdown table in docs/ whose header has a `code` column holding one `code`. */
function documentedRows(): DocRow[] {
  const rows: DocRow[] = [];
  for (const file of filesUnder('docs', '.md')) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n').map((l) => l.trim());
    const split = (line: string): string[] => line.slice(1, line.endsWith('|') ? -1 : undefined).split('|').map((c) => c.trim());
    for (let i = 0; i + 1 < lines.length; i++) {
      if (!lines[i]!.startsWith('|') || !/^\|[\s|:-]+\|$/.test(lines[i + 1]!)) continue;
      const header = split(lines[i]!).map((h) => h.toLowerCase());
      const codeColumn = header.indexOf('code');
      if (codeColumn < 0) continue;
      for (let j = i + 2; j < lines.length && lines[j]!.startsWith('|'); j++) {
        const cells = split(lines[j]!);
        const code = /^`([^`]+)`$/.exec(cells[codeColumn] ?? '')?.[1];
        if (code) rows.push({ file, code, cells: Object.fromEntries(header.map((h, k) => [h, cells[k] ?? ''])) });
      }
    }
  }
  return rows;
}

describe('the error registries', () => {
  const defined = new Map<string, { spec: ErrorSpec; namespace: string }>();
  for (const registry of REGISTRIES) for (const code of registry.list) if (!defined.has(code)) defined.set(code, { spec: registry.codes[code]!, namespace: registry.namespace });

  it('are all in this test: every defineErrors call of src/ is one of them', () => {
    // src/errors/ defines the shape (its doc example calls defineErrors too), not a registry.
    const inSource = filesUnder('src', '.ts').filter((f) => !f.startsWith('src/errors/')).flatMap((file) => [...readFileSync(join(ROOT, file), 'utf8').matchAll(/defineErrors\('([a-z-]+)'/g)].map((m) => m[1]!));
    assert.deepEqual(inSource.sort(), REGISTRIES.map((r) => r.namespace).sort());
  });

  it('give every StellaError subclass of src/ a registry (no code-less domain error)', () => {
    // src/errors/ holds StellaError itself. src/cli/ is exempt: CliError and ConfigurationFailure
    // are a command's own verdict and a domain error in the command's words, not domain errors.
    for (const file of filesUnder('src', '.ts').filter((f) => !f.startsWith('src/cli/') && !f.startsWith('src/errors/'))) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/class (\w+) extends StellaError \{/g)) assert.match(text, /get registry\(\)/, `${file}: ${m[1]} names no registry`);
      assert.doesNotMatch(text, /class \w+ extends Error \{/, `${file}: an Error subclass without a code; derive it from StellaError and give it a registry`);
    }
  });

  it('define each code once in the product (a registry may answer with another\'s entry, the same object)', () => {
    // One code, one meaning: a client branching on `scan-conflict` must not have to ask which part
    // sent it. The services answer the store's `scan-conflict` and `storage-unavailable` as they
    // are, so their registry holds those very entries rather than second definitions.
    for (const registry of REGISTRIES) {
      for (const code of registry.list) {
        const first = defined.get(code)!;
        assert.equal(registry.codes[code], first.spec, `${code} is defined in ${first.namespace} and again in ${registry.namespace}`);
      }
    }
    assert.ok(SERVICE_ERRORS.codes['scan-conflict'] === STORAGE_ERRORS.codes['scan-conflict']);
  });

  it('document every code in a table of docs/', () => {
    const documented = new Set(documentedRows().map((r) => r.code));
    const missing = [...defined.keys()].filter((code) => !documented.has(code));
    assert.deepEqual(missing, [], `codes no docs table lists: ${missing.join(', ')}`);
  });

  it('agree with the docs tables on HTTP status, exit code and retry rule wherever a table gives one', () => {
    let compared = 0;
    for (const row of documentedRows()) {
      const entry = defined.get(row.code);
      if (!entry) continue;
      const where = `${row.file}: ${row.code}`;
      if (row.cells.status !== undefined && /^\d{3}$/.test(row.cells.status)) {
        assert.equal(Number(row.cells.status), entry.spec.status, where);
        compared++;
      }
      if (row.cells.exit !== undefined) {
        assert.equal(row.cells.exit, entry.spec.exit === 'usage' ? '2' : '1', where);
        compared++;
      }
      if (row.cells.retried !== undefined) {
        assert.equal(row.cells.retried, entry.spec.retryable ? 'yes' : 'no', where);
        compared++;
      }
    }
    assert.ok(compared > 60, `only ${compared} facts compared: the table parser found too little`);
  });

  it('refuse a malformed namespace, code or status when defined', () => {
    const spec = { title: 't', exit: 'failed', retryable: false } as const;
    assert.throws(() => defineErrors('Bad Space', { A: spec }), TypeError);
    assert.throws(() => defineErrors('ok', { 'has space': spec }), TypeError);
    assert.throws(() => defineErrors('ok', { A: { ...spec, status: 200 } }), /4xx or 5xx/);
    const registry = defineErrors('ok', { A: spec });
    assert.equal(registry.has('A'), true);
    assert.equal(registry.has('toString'), false);
    assert.ok(Object.isFrozen(registry.codes) && Object.isFrozen(registry.codes.A));
  });
});
