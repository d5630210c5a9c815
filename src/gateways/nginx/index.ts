/**
 * The NGINX hop renderer (docs/gateways/README.md): `<hop id>/nginx.conf`, the header include every proxying
 * location repeats, and — for `stamp.via: native` — the Perl module that stamps the hop record.
 * What each block does and how to adapt it by hand: docs/gateways/nginx.md.
 */
import { posix } from 'node:path';
import type { GatewayKindModule, GatewayProgram, HopRenderer, RenderedFile } from '../types.js';
import { httpContext, mainContext, stripHeadersInclude } from './config.js';
import { STRIP_HEADERS_FILE } from './syntax.js';
import { hopFacts } from '../hop-facts.js';
import { PERL_MODULE_FILE, perlModule } from './perl.js';

export { NGINX_PERL_MODULE } from './config.js';
export { STRIP_HEADERS_FILE } from './syntax.js';
export { STAMPER_LOCATION } from './stamping.js';
export { PERL_MODULE_FILE } from './perl.js';

/** The main configuration file inside the hop folder. */
export const NGINX_CONF_FILE = 'nginx.conf';

/**
 * Renders one NGINX hop. Pure: paths inside the files point at `context.outDir/<hop id>/`, where
 * the writer will put them, and at the certificate and key files of the topology.
 *
 * @example
 * const files = renderNginxHop(topology, topology.hops[0]!, { outDir: '/srv/stella/gateways' });
 * files.map((f) => f.path); // ['gw-edge/nginx.conf', 'gw-edge/strip-headers.conf', 'gw-edge/stella_stamp.pm']
 */
export const renderNginxHop: HopRenderer = (topology, hop, context) => {
  if (hop.kind !== 'nginx') throw new TypeError(`renderNginxHop: hop ${hop.id} is of kind ${hop.kind}`);
  const facts = hopFacts(topology, hop);
  const paths = { hopDir: posix.join(context.outDir, hop.id) };
  const files: RenderedFile[] = [
    { path: `${hop.id}/${NGINX_CONF_FILE}`, contents: `${mainContext(facts, paths)}\n${httpContext(facts, paths)}\n` },
    { path: `${hop.id}/${STRIP_HEADERS_FILE}`, contents: stripHeadersInclude(facts) },
  ];
  if (facts.stamp?.via === 'native') {
    files.push({ path: `${hop.id}/${PERL_MODULE_FILE}`, contents: perlModule(hop.id, facts.stamp) });
  }
  return files;
};

/**
 * `nginx -p <hopDir>/ -c <hopDir>/nginx.conf`; the config says `daemon off;` so the master stays in
 * the foreground for the runtime to track by PID. No environment is needed: the Perl module reads
 * the key file itself.
 */
export const nginxProgram: GatewayProgram = {
  check: (hopDir) => ({ command: 'nginx', args: ['-t', '-q', '-p', `${hopDir}/`, '-c', posix.join(hopDir, NGINX_CONF_FILE)] }),
  run: (hopDir) => ({ command: 'nginx', args: ['-p', `${hopDir}/`, '-c', posix.join(hopDir, NGINX_CONF_FILE)] }),
  // SIGHUP = `nginx -s reload`: new workers with the re-read files; old ones finish their requests.
  reload: () => ({ kind: 'signal', signal: 'SIGHUP' }),
};

/** The NGINX kind (one line of `GATEWAY_KINDS`): nothing to prepare, the Perl module reads its key file. */
export const nginxKind: GatewayKindModule = {
  render: renderNginxHop,
  program: nginxProgram,
  prepare: async () => ({}),
};
