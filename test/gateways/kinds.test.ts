/**
 * The one table of gateway kinds (docs/CONVENTIONS.md#gateway-behaviour-every-renderer-implements):
 * every kind of the schema has its line, each line is what its folder exports, and no code outside
 * the kinds' folders and the topology schema branches on a kind's name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GATEWAY_KINDS, gatewayKind, programFor, rendererFor } from '../../src/gateways/index.js';
import { apacheKind, apacheProgram, renderApacheHop } from '../../src/gateways/apache/index.js';
import { caddyKind, caddyProgram, renderCaddyHop } from '../../src/gateways/caddy/index.js';
import { envoyKind, envoyProgram, renderEnvoyHop } from '../../src/gateways/envoy/index.js';
import { haproxyKind, haproxyProgram, renderHaproxyHop } from '../../src/gateways/haproxy/index.js';
import { nginxKind, nginxProgram, renderNginxHop } from '../../src/gateways/nginx/index.js';
import { HOP_KINDS, type HopKind } from '../../src/topology/schema.js';

/** Each kind's folder and what it exports. */
const FOLDERS = {
  nginx: { folder: 'nginx', module: nginxKind, render: renderNginxHop, program: nginxProgram },
  haproxy: { folder: 'haproxy', module: haproxyKind, render: renderHaproxyHop, program: haproxyProgram },
  'apache-modsecurity': { folder: 'apache', module: apacheKind, render: renderApacheHop, program: apacheProgram },
  caddy: { folder: 'caddy', module: caddyKind, render: renderCaddyHop, program: caddyProgram },
  envoy: { folder: 'envoy', module: envoyKind, render: renderEnvoyHop, program: envoyProgram },
} as const satisfies Record<HopKind, unknown>;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('GATEWAY_KINDS', () => {
  it('has one line per hop kind of the schema, and nothing else', () => {
    assert.deepEqual(Object.keys(GATEWAY_KINDS).sort(), [...HOP_KINDS].sort());
  });

  for (const kind of HOP_KINDS) {
    it(`${kind}: its line is the module of src/gateways/${FOLDERS[kind].folder}/, with that folder's renderer and program`, () => {
      const line = gatewayKind(kind);
      assert.equal(line, FOLDERS[kind].module);
      assert.equal(line.render, FOLDERS[kind].render);
      assert.equal(line.program, FOLDERS[kind].program);
      assert.equal(rendererFor(kind), FOLDERS[kind].render);
      assert.equal(programFor(kind), FOLDERS[kind].program);
    });
  }

  it('refuses a name that is no kind, also one inherited from Object.prototype', () => {
    for (const name of ['traefik', 'toString', '__proto__', 'constructor']) {
      assert.throws(() => gatewayKind(name as HopKind), (error: Error) => error instanceof TypeError && error.message === `no gateway kind "${name}"`);
    }
  });

  it('is the only place that branches on a gateway kind outside the kinds\' folders and the topology schema', () => {
    const names = HOP_KINDS.map((k) => k.replace('-', '\\-')).join('|');
    const branch = new RegExp(`(kind\\s*[!=]==?\\s*'(${names})'|case '(${names})':)`);
    const own = new Set(Object.values(FOLDERS).map((f) => join('src', 'gateways', f.folder)));
    const offenders = sources('src')
      .filter((file) => ![...own].some((dir) => file.startsWith(`${dir}/`)) && !file.startsWith(join('src', 'topology') + '/'))
      .flatMap((file) => readFileSync(file, 'utf8').split('\n').map((line, i) => ({ file: relative('.', file), line: i + 1, text: line })))
      .filter(({ text }) => branch.test(text))
      .map(({ file, line, text }) => `${file}:${line}: ${text.trim()}`);
    assert.deepEqual(offenders, []);
  });
});
