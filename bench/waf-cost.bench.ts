/**
 * Where the WAF hop spends its CPU (bench/README.md#where-the-waf-hop-spends-its-cpu): the
 * reference chain's Apache+ModSecurity+CRS hop as rendered, against the same hop with parts of
 * ModSecurity taken away, measured as the CPU time Apache's processes spend per request
 * (bench/process-cpu.ts). A variant is written into the running deployment's WAF folder and the
 * hop restarted; variant and rendered config alternate, so both see the same machine.
 * `STELLA_BENCH_WAF_GROUPS=1` adds one row per group of CRS rule files left out.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../test/support/chain.js';
import { TRAVERSAL } from './chain.bench.js';
import { inOwnTmp } from './deployments.js';
import { fire } from './load.js';
import { cpuSpent, programCpuSeconds } from './process-cpu.js';
import { machineInfo, type BenchResult, type BenchRow } from './support.js';
import { shots, trafficContext, type TrafficContext } from './traffic.js';
import type { Agent } from 'undici';

/** The bench's name (bench/results/waf-cost.json). */
export const name = 'waf-cost';

const CRS_RULES_DIR = '/usr/share/modsecurity-crs/rules';
const CRS_INCLUDE = `Include "${CRS_RULES_DIR}/*.conf"`;
const ROUNDS = 3;
const CONCURRENCY = 8;
const REQUESTS = { GET: 500, POST: 250 } as const;

interface Variant {
  name: string;
  conf?: (text: string) => string;
  modsecurity?: (text: string) => string;
}

/** `text` with `pattern` replaced; a variant that changes nothing would measure the rendered hop twice. */
function changed(text: string, pattern: string | RegExp, replacement: string): string {
  const result = text.replace(pattern, replacement);
  if (result === text) throw new Error(`waf-cost: the rendered WAF config has no ${String(pattern)}; the bench is out of date with the renderer`);
  return result;
}

/** The CRS include with the rule files that `leaveOut` names left out. */
function withoutRuleFiles(leaveOut: (file: string) => boolean): (text: string) => string {
  const files = readdirSync(CRS_RULES_DIR).filter((f) => f.endsWith('.conf')).sort();
  const kept = files.filter((f) => !leaveOut(f));
  // A group that names no file of this CRS would measure the rendered hop against itself.
  if (kept.length === files.length) throw new Error(`waf-cost: no CRS rule file in ${CRS_RULES_DIR} matches the group; the bench is out of date with the CRS`);
  return (text) => changed(text, CRS_INCLUDE, kept.map((f) => `Include "${CRS_RULES_DIR}/${f}"`).join('\n'));
}

const VARIANTS: Variant[] = [
  {
    // The target this hop had before (a backreference): Apache's default worker, so a new
    // connection and mTLS handshake to the next hop per request (docs/gateways/apache-modsecurity.md#connections-to-the-next-hop).
    name: 'the former ProxyPassMatch target with $1 (no connection reuse)',
    conf: (t) => changed(t, /^ProxyPassMatch "\^\/" "(https:\/\/[^"]+)" nocanon$/m, 'ProxyPassMatch "^(/.*)$" "$1$$1" nocanon'),
  },
  { name: 'ModSecurity with no CRS rules (the hop\'s own rules only)', conf: (t) => changed(t, CRS_INCLUDE, '# (no CRS rules)') },
  { name: 'ModSecurity rule engine off', modsecurity: (t) => changed(t, /^SecRuleEngine On$/m, 'SecRuleEngine Off') },
];

const GROUPS: [string, RegExp][] = [
  ['910-913 (reputation, method, DoS, scanners)', /^REQUEST-91[0-3]-/],
  ['920 protocol enforcement', /^REQUEST-920-/],
  ['921 protocol attack', /^REQUEST-921-/],
  ['930-934 LFI, RFI, RCE, PHP, Node.js', /^REQUEST-93[0-4]-/],
  ['941 XSS', /^REQUEST-941-/],
  ['942 SQLi', /^REQUEST-942-/],
  ['943-944 session fixation, Java', /^REQUEST-94[34]-/],
  ['950-954 response data leakage', /^RESPONSE-95[0-4]-/],
];

interface Deployment {
  chain: Chain;
  ctx: TrafficContext;
  agent: Agent;
  wafDir: string;
  conf: string;
  modsecurity: string;
}

/** Apache CPU ms per request with the given config in place. */
async function measure(d: Deployment, variant: Variant | null, method: 'GET' | 'POST'): Promise<{ ms: number; rate: number }> {
  await writeFile(join(d.wafDir, 'apache2.conf'), variant?.conf ? variant.conf(d.conf) : d.conf);
  await writeFile(join(d.wafDir, 'modsecurity.conf'), variant?.modsecurity ? variant.modsecurity(d.modsecurity) : d.modsecurity);
  await d.chain.deployment.restartGateway('waf');
  const prepare = shots({ ctx: d.ctx, origin: d.chain.edgeUrl(), agent: d.agent, method, url: method === 'POST' ? '/api/v1/evidence' : TRAVERSAL, stamp: false, expect: method === 'POST' ? 201 : 200 });
  await fire(await prepare(60), CONCURRENCY); // warm-up: the new processes' pools and connections
  const list = await prepare(REQUESTS[method]);
  const before = programCpuSeconds(d.chain.workDir);
  const started = process.hrtime.bigint();
  await fire(list, CONCURRENCY);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const apache = cpuSpent(before, programCpuSeconds(d.chain.workDir)).get('apache') ?? 0;
  return { ms: (apache * 1000) / list.length, rate: list.length / seconds };
}

async function row(d: Deployment, variant: Variant, method: 'GET' | 'POST'): Promise<BenchRow> {
  const sides = { variant: { ms: 0, rate: 0 }, rendered: { ms: 0, rate: 0 } };
  for (let round = 0; round < ROUNDS; round++) {
    const order: ('variant' | 'rendered')[] = round % 2 === 0 ? ['variant', 'rendered'] : ['rendered', 'variant'];
    for (const side of order) {
      const m = await measure(d, side === 'variant' ? variant : null, method);
      sides[side].ms += m.ms / ROUNDS;
      sides[side].rate += m.rate / ROUNDS;
    }
  }
  return {
    case: `${variant.name} vs as rendered: ${method === 'GET' ? 'GET traversal' : 'POST evidence'}, ${CONCURRENCY} conns`,
    opsPerSecond: sides.variant.rate,
    baselineOpsPerSecond: sides.rendered.rate,
    // The share of the rendered hop's CPU per request that the variant still spends.
    ratio: sides.variant.ms / sides.rendered.ms,
    rounds: ROUNDS,
    extra: { wafCpuMsPerRequest: sides.variant.ms, renderedWafCpuMsPerRequest: sides.rendered.ms },
  };
}

/** Starts the reference chain, measures every variant against the rendered WAF, stops it. */
export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const rows: BenchRow[] = [];
  await inOwnTmp('stella-bench-waf-', async () => {
    const chain = await startChain(REFERENCE_TOPOLOGY);
    const agent = await chain.scannerAgent().catch(async (error: unknown) => {
      await chain.close();
      throw error;
    });
    try {
      const wafDir = join(chain.deployment.gatewaysDir, 'waf');
      const d: Deployment = {
        chain,
        agent,
        ctx: await trafficContext(chain.topology, 'evidence-locker'),
        wafDir,
        conf: await readFile(join(wafDir, 'apache2.conf'), 'utf8'),
        modsecurity: await readFile(join(wafDir, 'modsecurity.conf'), 'utf8'),
      };
      const variants = [...VARIANTS];
      if (process.env.STELLA_BENCH_WAF_GROUPS === '1') for (const [group, files] of GROUPS) variants.push({ name: `CRS without ${group}`, conf: withoutRuleFiles((f) => files.test(f)) });
      for (const method of ['GET', 'POST'] as const) for (const variant of variants) rows.push(await row(d, variant, method));
    } finally {
      await agent.close();
      await chain.close();
    }
  });
  return {
    name,
    description:
      'CPU time of the WAF hop\'s Apache processes per request (user + system, from /proc) in the reference chain, with a part of ModSecurity taken away, against the hop as rendered (CRS 3.3 at paranoia level 1), alternating. Ratio = the variant\'s CPU per request ÷ the rendered hop\'s: what is left when that part goes.',
    date: new Date().toISOString(),
    machine: machineInfo(),
    rows,
    notes: [
      'The variants are measurements, not configurations to run: every CRS rule the hop loads is part of the protection it promises (docs/gateways/apache-modsecurity.md).',
      `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
    ],
  };
}
