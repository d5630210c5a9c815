import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { renderGateways } from '../../src/cli/commands/gateway.js';
import { RENDER_INDEX_FILE } from '../../src/gateways/index.js';
import { writeRenderedFiles } from '../../src/gateways/write.js';
import { HOP_KINDS, type TopologyInput } from '../../src/topology/schema.js';
import { EXAMPLE_VARIANTS, listFiles, renderExample, variantDir } from '../../scripts/render-examples.js';
import { tempDir } from '../support/tmp.js';
import { createDeployment } from './apache/support/deployment.js';

describe('renderTopology', () => {
  for (const variant of EXAMPLE_VARIANTS) {
    it(`renders ${variant.topology} into configs every real program accepts`, async () => {
      const document = parse(readFileSync(variant.topology, 'utf8')) as TopologyInput;
      const deployment = await createDeployment(document);
      try {
        const result = await renderGateways({ topology: join(deployment.dir, 'topology.yaml'), out: deployment.outDir, check: true });
        assert.deepEqual(result.checks.map((c) => c.hop), document.hops.map((h) => h.id));
        for (const check of result.checks) assert.ok(check.ok, `${check.hop} (${check.kind}): ${check.output}`);
        const index = await readFile(join(deployment.outDir, RENDER_INDEX_FILE), 'utf8');
        for (const hop of document.hops) assert.match(index, new RegExp(`^${hop.id} \\(${hop.kind}\\)`, 'm'));
      } finally {
        deployment.remove();
      }
    });
  }

  it('covers every hop kind with the committed example variants', async () => {
    const kinds = new Set<string>();
    for (const variant of EXAMPLE_VARIANTS) for (const hop of (parse(readFileSync(variant.topology, 'utf8')) as TopologyInput).hops) kinds.add(hop.kind);
    assert.deepEqual([...kinds].sort(), [...HOP_KINDS].sort());
  });

  it('puts every file of a hop under the folder named by its id', async () => {
    const files = await renderExample('examples/topology.yaml');
    assert.equal(files[0]?.path, RENDER_INDEX_FILE);
    for (const file of files.slice(1)) assert.match(file.path, /^(gw-edge|waf|gw-internal)\/[^/]/);
  });
});

describe('the committed examples under devops/gateway', () => {
  for (const variant of EXAMPLE_VARIANTS) {
    it(`${variant.name} is what scripts/render-examples.ts renders from ${variant.topology}`, async () => {
      const files = await renderExample(variant.topology);
      const dir = variantDir(variant.name);
      assert.deepEqual(await listFiles(dir), files.map((f) => f.path).sort(), 'stale or missing files: run node --import tsx scripts/render-examples.ts');
      for (const file of files) {
        assert.equal(await readFile(join(dir, file.path), 'utf8'), file.contents, `${file.path} is stale: run node --import tsx scripts/render-examples.ts`);
      }
    });
  }

  it('hold no key material', async () => {
    for (const variant of EXAMPLE_VARIANTS) {
      for (const path of await listFiles(variantDir(variant.name))) {
        assert.doesNotMatch(await readFile(join(variantDir(variant.name), path), 'utf8'), /PRIVATE KEY-----/, path);
      }
    }
  });
});

describe('writeRenderedFiles', () => {
  it('writes each file with its mode, creating folders, and leaves no temporary file behind', async () => {
    const tmp = tempDir();
    try {
      const written = await writeRenderedFiles(tmp.path, [
        { path: 'a/b/c.conf', contents: 'one\n' },
        { path: 'a/secret.env', contents: 'two\n', mode: 0o600 },
      ]);
      assert.deepEqual(written, [join(tmp.path, 'a/b/c.conf'), join(tmp.path, 'a/secret.env')]);
      assert.equal(readFileSync(join(tmp.path, 'a/b/c.conf'), 'utf8'), 'one\n');
      assert.equal(statSync(join(tmp.path, 'a/b/c.conf')).mode & 0o777, 0o644);
      assert.equal(statSync(join(tmp.path, 'a/secret.env')).mode & 0o777, 0o600);
      assert.deepEqual(await listFiles(tmp.path), ['a/b/c.conf', 'a/secret.env']);
    } finally {
      tmp.remove();
    }
  });

  it('replaces an existing file', async () => {
    const tmp = tempDir();
    try {
      await writeRenderedFiles(tmp.path, [{ path: 'x.conf', contents: 'old' }]);
      await writeRenderedFiles(tmp.path, [{ path: 'x.conf', contents: 'new' }]);
      assert.equal(readFileSync(join(tmp.path, 'x.conf'), 'utf8'), 'new');
    } finally {
      tmp.remove();
    }
  });

  it('refuses paths that leave the output folder, before writing anything', async () => {
    const tmp = tempDir();
    try {
      for (const path of ['../escape.conf', '/etc/passwd', 'a/../../escape.conf', '', '.']) {
        await assert.rejects(writeRenderedFiles(tmp.path, [{ path: 'ok.conf', contents: '' }, { path, contents: 'x' }]), TypeError, path);
      }
      assert.deepEqual(await listFiles(tmp.path), []);
    } finally {
      tmp.remove();
    }
  });
});

describe('renderTopology output', () => {
  it('lists the check and run command of every hop in the index', async () => {
    const files = await renderExample('examples/topology-caddy.yaml');
    const index = files.find((f) => f.path === RENDER_INDEX_FILE)?.contents ?? '';
    assert.match(index, /check: caddy validate --config \/etc\/stella-gateway\/gateway\/gw-edge\/Caddyfile --adapter caddyfile/);
    assert.match(index, /check: apache2 -t -f \/etc\/stella-gateway\/gateway\/waf\/apache2\.conf/);
  });
});
