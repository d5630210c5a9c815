/**
 * Splicing the relay (./relay.ts) into a running chain (./chain.ts): the rendered config of the
 * hop in front gets the relay's address as its upstream and that hop restarts
 * (`startDeployment`'s restart re-runs the rendered files without rendering them again). The relay
 * poses as the next part and forwards with the hop's own client certificate.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { splitListen } from '../../src/gateways/chain.js';
import type { Chain } from './chain.js';
import { forwardTo, startRelay, type Relay } from './relay.js';

/** Certificate and key of a part, as the resolved topology names them. */
type Tls = { chain: string; key: string };

/** A relay posing as `target` (its certificate) and forwarding to it with the `from` hop's client certificate. */
function relayBefore(chain: Chain, target: { tls: Tls; listen: string; serverName: string }, from: { upstreamTls: Tls }): Promise<Relay> {
  const ca = chain.topology.pki.caBundle;
  return startRelay({
    ca,
    serverIdentity: { cert: target.tls.chain, key: target.tls.key },
    forward: forwardTo({ ca, listen: target.listen, servername: target.serverName, client: { cert: from.upstreamTls.chain, key: from.upstreamTls.key } }),
  });
}

/**
 * Splices a relay between the WAF and the hop after it: the WAF now proxies to the relay, which
 * poses as that hop and forwards with the WAF's own client certificate.
 */
export async function spliceAfterWaf(chain: Chain, wafId = 'waf'): Promise<Relay> {
  const waf = chain.topology.hops.find((h) => h.id === wafId);
  if (!waf || waf.nextTarget.type !== 'hop') throw new TypeError(`no hop after ${wafId}`);
  const next = waf.nextTarget.hop;
  const relay = await relayBefore(chain, next, waf);
  const file = join(chain.deployment.gatewaysDir, waf.id, 'apache2.conf');
  // The WAF forwards with `ProxyPassMatch "^/" "https://<next>:<port>" nocanon` (the target byte for
  // byte, docs/gateways/apache-modsecurity.md#the-request-target): swap the port for the relay's.
  const target = `"https://${next.serverName}:${splitListen(next.listen).port}"`;
  const config = await readFile(file, 'utf8');
  if (!config.includes(target)) {
    // An open relay would keep the test process alive after the failure.
    await relay.close();
    throw new Error(`${file} does not proxy to ${target}`);
  }
  await writeFile(file, config.split(target).join(`"https://${next.serverName}:${relay.port}"`));
  await chain.deployment.restartGateway(waf.id);
  return relay;
}

/**
 * Splices a relay between the last hop (HAProxy) and the service: HAProxy's server line now points
 * at the relay, which poses as the service and forwards with the last hop's client certificate.
 */
export async function spliceBeforeService(chain: Chain, serviceId?: string): Promise<Relay> {
  const service = serviceId ? chain.topology.services.find((s) => s.id === serviceId) : chain.topology.services[0];
  const last = service?.chain.at(-1);
  if (!service || !last) throw new TypeError('no service with a chain');
  if (last.kind !== 'haproxy') throw new TypeError(`the last hop is ${last.kind}; only HAProxy is spliced here`);
  const relay = await relayBefore(chain, service, last);
  const file = join(chain.deployment.gatewaysDir, last.id, 'haproxy.cfg');
  const config = await readFile(file, 'utf8');
  const pattern = new RegExp(`(server \\S+ )${service.listen.replace(/[.]/g, '\\.')}( )`);
  if (!pattern.test(config)) {
    await relay.close();
    throw new Error(`${file} has no server line for ${service.listen}`);
  }
  await writeFile(file, config.replace(pattern, `$1127.0.0.1:${relay.port}$2`));
  await chain.deployment.restartGateway(last.id);
  return relay;
}
