import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import type { FastifyInstance } from 'fastify';
import { routesOf } from '../../src/services/common/app.js';
import { SERVICE_PROBLEM_CODES } from '../../src/services/common/problems.js';
import { lockerWorld, type LockerWorld } from './support/locker.js';
import { webServiceWorld, type WebServiceWorld } from './support/webservice.js';

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Structural checks of an OpenAPI 3.1 document, plus agreement with the app's real routes. */
async function checkDocument(app: FastifyInstance): Promise<Json> {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(response.statusCode, 200);
  const doc = response.json() as Json & { paths: Record<string, Json>; components: Json };
  assert.equal(doc.openapi, '3.1.0');
  const info = doc.info as Json;
  assert.equal(typeof info.title, 'string');
  assert.equal(typeof info.version, 'string');

  const documented = new Set<string>();
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    assert.match(path, /^\//, `path ${path} must start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, operation] of Object.entries(item)) {
      assert.ok(METHODS.includes(method), `${path}: unknown method ${method}`);
      const op = operation as Json & { responses: Record<string, unknown>; parameters?: Json[] };
      assert.ok(op.responses && Object.keys(op.responses).length > 0, `${method} ${path} lists no response`);
      for (const status of Object.keys(op.responses)) assert.match(status, /^[1-5][0-9][0-9]$/, `${method} ${path}: status ${status}`);
      const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual([...pathParams].sort(), [...templated].sort(), `${method} ${path}: path parameters must match the template`);
      if (typeof op.operationId === 'string') {
        assert.ok(!operationIds.has(op.operationId), `duplicate operationId ${op.operationId}`);
        operationIds.add(op.operationId);
      }
      documented.add(`${method.toUpperCase()} ${path}`);
    }
  }
  // Every $ref points at an existing component.
  const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
  for (const ref of refs) {
    const target = ref.slice(8, -1);
    assert.match(target, /^#\/components\/schemas\//);
    const name = target.split('/').at(-1)!;
    assert.ok((doc.components.schemas as Json)[name], `dangling ${target}`);
  }
  // The document and the app agree, both ways.
  const registered = new Set(routesOf(app).map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`));
  assert.deepEqual([...documented].sort(), [...registered].sort());
  return doc;
}

describe('OpenAPI descriptions', () => {
  let locker: LockerWorld;
  let webservice: WebServiceWorld;
  before(async () => {
    locker = await lockerWorld();
    webservice = await webServiceWorld();
  });
  after(async () => {
    await locker.dispose();
    await webservice.dispose();
  });

  it('describes every route of the Evidence Locker and nothing else', async () => {
    const doc = await checkDocument(locker.app);
    const problem = ((doc.components as Json).schemas as Json).Problem as { properties: { code: { enum: string[] } } };
    for (const code of SERVICE_PROBLEM_CODES) assert.ok(problem.properties.code.enum.includes(code), `Problem.code lacks ${code}`);
  });

  it('describes every route of the Scanner WebService and nothing else', async () => {
    await checkDocument(webservice.app);
  });
});
