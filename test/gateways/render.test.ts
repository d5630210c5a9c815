import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { renderGateways } from '../../src/cli/commands/gateway.js';
import { main } from '../../src/cli/main.js';
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

describe('renderTopology, for any valid topology', () => {
  /** One hop as drawn by fast-check; `build` turns the draws into a valid chain. */
  const hopDraw = fc.record({
    kind: fc.constantFrom(...HOP_KINDS),
    stamps: fc.boolean(),
    nginxViaForwardAuth: fc.boolean(),
    serverName: fc.option(fc.constantFrom('localhost', 'gw.stella.test'), { nil: undefined }),
    paranoiaLevel: fc.integer({ min: 1, max: 4 }),
    inboundAnomalyThreshold: fc.integer({ min: 1, max: 100 }),
    maxBodyBytes: fc.option(fc.integer({ min: 1024, max: 64 * 1024 * 1024 }), { nil: undefined }),
  });
  type HopDraw = typeof hopDraw extends fc.Arbitrary<infer T> ? T : never;

  function build(draws: readonly HopDraw[], strip: readonly string[], replicas = 0): TopologyInput {
    // Config checks bind no port, so fixed ports keep a failing case reproducible from its seed.
    const base = 21000;
    const hops = draws.map((draw, i) => {
      // The edge must stamp (record 1 binds the scanner certificate), and a WAF never stamps.
      const kind = i === 0 && draw.kind === 'apache-modsecurity' ? 'nginx' : draw.kind;
      const id = `hop-${i}`;
      const next = i === draws.length - 1 ? 'evidence-locker' : `hop-${i + 1}`;
      const common = { id, kind, listen: `127.0.0.1:${base + i}`, serverName: draw.serverName, next, limits: draw.maxBodyBytes ? { maxBodyBytes: draw.maxBodyBytes, upstreamTimeoutSeconds: 30 } : undefined };
      if (kind === 'apache-modsecurity') return { ...common, stamp: false as const, waf: { paranoiaLevel: draw.paranoiaLevel, inboundAnomalyThreshold: draw.inboundAnomalyThreshold } };
      if (i > 0 && !draw.stamps) return { ...common, stamp: false as const };
      const keys = [{ kid: `${id}-k1`, file: `./keys/${id}.key` }];
      const forwardAuth = kind === 'caddy' || kind === 'envoy' || (kind === 'nginx' && draw.nginxViaForwardAuth);
      return { ...common, stamp: forwardAuth ? { via: 'forward-auth' as const, keys, stamper: { listen: `127.0.0.1:${base + 10 + i}` } } : { via: 'native' as const, keys } };
    });
    return {
      apiVersion: 'stella-gateway/v1',
      kind: 'Topology',
      name: 'property',
      trustDomain: 'stella.local',
      pki: { dir: './pki' },
      scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 's-1', file: './keys/scanner.hmac' }] } }],
      hops: hops.map((h) => JSON.parse(JSON.stringify(h)) as TopologyInput['hops'][number]),
      services: [
        {
          id: 'evidence-locker',
          kind: 'evidence-locker',
          listen: `127.0.0.1:${base + 9}`,
          ...(replicas > 0 ? { replicas: Array.from({ length: replicas }, (_, k) => `127.0.0.1:${base + 20 + k}`) } : {}),
          receiptKey: './keys/receipt.pem',
        },
      ],
      headers: { strip: [...strip] },
    };
  }

  it('renders configs that pass the real config checks (nginx -t, haproxy -c, apache2 -t, caddy validate, Envoy schema), service replicas included', { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hopDraw, { minLength: 1, maxLength: 4 }), fc.subarray(['X-Debug', 'X-Internal-User']), fc.integer({ min: 0, max: 2 }), async (draws, strip, replicas) => {
        const deployment = await createDeployment(build(draws, strip, replicas));
        try {
          const result = await renderGateways({ topology: join(deployment.dir, 'topology.yaml'), out: deployment.outDir, check: true });
          assert.equal(result.checks.length, draws.length);
          for (const check of result.checks) assert.ok(check.ok, `${check.hop} (${check.kind}): ${check.output}`);
        } finally {
          deployment.remove();
        }
      }),
      { numRuns: 12 },
    );
  });

  describe('renderTopology in front of service replicas (docs/topology.md#replicas)', () => {
    /** What the last hop's config must hold for three replicas on ports 31009, 31020, 31021, per kind. */
    const EXPECTED: Record<(typeof HOP_KINDS)[number], { file: string; patterns: RegExp[] }> = {
      nginx: { file: 'nginx.conf', patterns: [/server 127\.0\.0\.1:31009 max_fails=1 fail_timeout=10s;\n\s+server 127\.0\.0\.1:31020 max_fails=1 fail_timeout=10s;\n\s+server 127\.0\.0\.1:31021 max_fails=1/] },
      haproxy: { file: 'haproxy.cfg', patterns: [/balance roundrobin/, /option redispatch/, /server evidence-locker-0 127\.0\.0\.1:31009 .* check /, /server evidence-locker-2 127\.0\.0\.1:31021 .* check /] },
      'apache-modsecurity': { file: 'apache2.conf', patterns: [/LoadModule proxy_balancer_module/, /BalancerMember "https:\/\/127\.0\.0\.1:31020" retry=10/, /ProxyPassMatch "\^\/" "balancer:\/\/stella-next" nocanon/] },
      caddy: { file: 'Caddyfile', patterns: [/reverse_proxy https:\/\/127\.0\.0\.1:31009 https:\/\/127\.0\.0\.1:31020 https:\/\/127\.0\.0\.1:31021 \{/, /lb_policy round_robin/, /health_uri \/healthz\/ready/, /health_interval 1s/] },
      envoy: { file: 'envoy.yaml', patterns: [/port_value: 31020/, /outlier_detection:/, /retry_on: connect-failure/] },
    };

    for (const kind of HOP_KINDS) {
      it(`balances a ${kind} last hop over every replica, and the real config check passes`, { timeout: 120_000 }, async () => {
        const draw = (k: (typeof HOP_KINDS)[number]) => ({ kind: k, stamps: true, nginxViaForwardAuth: false, serverName: undefined, paranoiaLevel: 1, inboundAnomalyThreshold: 5, maxBodyBytes: undefined });
        // A WAF cannot be the edge (it does not stamp): an NGINX edge goes first.
        const document = build(kind === 'apache-modsecurity' ? [draw('nginx'), draw(kind)] : [draw(kind)], [], 2);
        const doc = JSON.parse(JSON.stringify(document).replaceAll('127.0.0.1:21', '127.0.0.1:31')) as TopologyInput;
        // The WAF reaches replicas by the service's serverName, which must resolve to their host.
        doc.services[0]!.serverName = '127.0.0.1';
        const deployment = await createDeployment(doc);
        try {
          const result = await renderGateways({ topology: join(deployment.dir, 'topology.yaml'), out: deployment.outDir, check: true });
          for (const check of result.checks) assert.ok(check.ok, `${check.hop} (${check.kind}): ${check.output}`);
          const last = doc.hops.at(-1)!.id;
          const text = readFileSync(join(deployment.outDir, last, EXPECTED[kind].file), 'utf8');
          for (const pattern of EXPECTED[kind].patterns) assert.match(text, pattern);
        } finally {
          deployment.remove();
        }
      });
    }
  });
});

describe('stella-gateway gateway render', () => {
  it('writes the configs and exits 0, and exits 2 for a topology file that does not exist', async () => {
    const tmp = tempDir();
    try {
      const out = join(tmp.path, 'out');
      assert.equal(await main(['gateway', 'render', '--topology', 'examples/topology-caddy.yaml', '--out', out]), 0);
      assert.deepEqual(await listFiles(out), (await renderExample('examples/topology-caddy.yaml')).map((f) => f.path).sort());
      assert.equal(await main(['gateway', 'render', '--topology', join(tmp.path, 'missing.yaml'), '--out', out]), 2);
    } finally {
      tmp.remove();
    }
  });

  it('with --check, names every missing certificate or key and exits 2 before writing anything', async () => {
    const tmp = tempDir();
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const out = join(tmp.path, 'out');
      // examples/ holds the topology only: its PKI and keys are made by `pki init/issue` and `dsse keygen`.
      const code = await main(['gateway', 'render', '--topology', 'examples/topology.yaml', '--out', out, '--check']);
      process.stderr.write = write;
      assert.equal(code, 2);
      const text = errors.join('');
      assert.match(text, /hops\[1\]\.tls: file not found: .*issued\/gateway\/waf\/cert\.pem/);
      assert.match(text, /hops\[0\]\.stamp\.keys\[0\]\.file: file not found/);
      assert.doesNotMatch(text, /unexpected error|ENOENT/);
      assert.equal(statSync(out, { throwIfNoEntry: false }), undefined, 'nothing written');
    } finally {
      process.stderr.write = write;
      tmp.remove();
    }
  });

  it('renders the committed examples byte for byte with --base-dir and --install-dir', async () => {
    const tmp = tempDir();
    try {
      const args = ['gateway', 'render', '--topology', 'examples/topology.yaml', '--out', tmp.path, '--base-dir', '/etc/stella-gateway', '--install-dir', '/etc/stella-gateway/gateway'];
      assert.equal(await main(args), 0);
      for (const path of await listFiles(variantDir('nginx-edge'))) {
        assert.equal(readFileSync(join(tmp.path, path), 'utf8'), readFileSync(join(variantDir('nginx-edge'), path), 'utf8'), path);
      }
    } finally {
      tmp.remove();
    }
  });
});
