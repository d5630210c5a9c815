/**
 * The Apache 2.4 + ModSecurity 2 + OWASP CRS hop (kind `apache-modsecurity`): the opaque WAF of
 * docs/provenance.md#rules-for-every-hop, rule 2. It terminates mTLS, admits only the hop before it, inspects every request with
 * the CRS and blocks at the configured anomaly threshold, forwards `X-Stella-Provenance` untouched
 * and presents its own certificate to the next hop, whose record then names it as `peer-id`.
 *
 * Files of `<outDir>/<hop id>/`: `apache2.conf` (the blocks of `config.ts`), `modsecurity.conf`
 * and `crs-tuning.conf` (`modsecurity.ts`). Before the first check or start, `prepareApacheHop`
 * (I/O) assembles the upstream client certificate file and the runtime folders.
 */
import { dirname } from 'node:path';
import type { GatewayKindModule, GatewayProgram, HopRenderer, RenderedFile } from '../types.js';
import { renderApacheConf } from './config.js';
import { apacheHopLayout } from './layout.js';
import { renderCrsTuning, renderModSecurityConf } from './modsecurity.js';
import { prepareApacheHop } from './prepare.js';

export { apacheHopLayout, APACHE_SYSTEM_PATHS, APACHE_RUN_USER, type ApacheHopLayout } from './layout.js';
export { prepareApacheHop } from './prepare.js';

/**
 * Renders the WAF hop. Pure: paths are built from `context.outDir`, no file is read.
 *
 * @example
 * const files = renderApacheHop(topology, topology.hops[1]!, { outDir: '/etc/stella-gateway' });
 * files.map((f) => f.path); // ['waf/apache2.conf', 'waf/modsecurity.conf', 'waf/crs-tuning.conf']
 */
export const renderApacheHop: HopRenderer = (topology, hop, context): RenderedFile[] => {
  if (hop.kind !== 'apache-modsecurity') throw new TypeError(`renderApacheHop: hop ${hop.id} is of kind ${hop.kind}`);
  const layout = apacheHopLayout(context.outDir, hop.id);
  return [
    { path: layout.relative.conf, contents: renderApacheConf(topology, hop, layout) },
    { path: layout.relative.modsecurityConf, contents: renderModSecurityConf(hop, layout) },
    { path: layout.relative.crsTuningConf, contents: renderCrsTuning(hop) },
  ];
};

/**
 * `apache2 -t -f …` and `apache2 -f … -DFOREGROUND`. The config sets its own ServerRoot, PidFile
 * and runtime folder, so Debian's `/etc/apache2/envvars` is not needed.
 */
export const apacheProgram: GatewayProgram = {
  check(hopDir) {
    return { command: 'apache2', args: ['-t', '-f', `${hopDir}/apache2.conf`] };
  },
  run(hopDir) {
    return { command: 'apache2', args: ['-f', `${hopDir}/apache2.conf`, '-DFOREGROUND'] };
  },
  // SIGUSR1 = `apachectl -k graceful`: the parent re-reads the files, children finish their requests.
  reload() {
    return { kind: 'signal', signal: 'SIGUSR1' };
  },
};

/**
 * The Apache + ModSecurity kind (one line of `GATEWAY_KINDS`): runtime folders and the combined
 * upstream certificate file before each check, start and reload; its unit runs as root, with the
 * capabilities a parent that drops its children to www-data needs.
 */
export const apacheKind: GatewayKindModule = {
  render: renderApacheHop,
  program: apacheProgram,
  prepare: async (hop, hopDir) => {
    await prepareApacheHop(hop, dirname(hopDir));
    return {};
  },
  unit: { asRoot: true, capabilities: ['CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_CHOWN', 'CAP_KILL', 'CAP_DAC_READ_SEARCH'] },
};
