import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { apacheProgram, renderApacheHop } from '../../../src/gateways/apache/index.js';
import { prepareHop } from '../../../src/gateways/runtime.js';
import { writeRenderedFiles } from '../../../src/gateways/write.js';
import type { ResolvedHop } from '../../../src/topology/resolve.js';
import { portsFor, requireProgram } from '../../support/programs.js';
import { createDeployment, wafDocument, type Deployment } from './support/deployment.js';

const run = promisify(execFile);

function wafHop(deployment: Deployment): ResolvedHop {
  const hop = deployment.topology.hops.find((h) => h.kind === 'apache-modsecurity');
  assert.ok(hop, 'the deployment has a WAF hop');
  return hop;
}

describe('renderApacheHop', () => {
  let deployment: Deployment;
  before(async () => {
    deployment = await createDeployment(wafDocument(await portsFor('edge', 'waf', 'service'), 3));
  });
  after(() => deployment.remove());

  it('renders apache2.conf, modsecurity.conf and crs-tuning.conf into the hop folder', () => {
    const files = renderApacheHop(deployment.topology, wafHop(deployment), { outDir: deployment.outDir });
    assert.deepEqual(files.map((f) => f.path), ['waf/apache2.conf', 'waf/modsecurity.conf', 'waf/crs-tuning.conf']);
  });

  it('turns the ModSecurity engine on, with an absolute unicode map and body limits from the topology', () => {
    const files = renderApacheHop(deployment.topology, wafHop(deployment), { outDir: deployment.outDir });
    const modsecurity = files.find((f) => f.path.endsWith('modsecurity.conf'))?.contents ?? '';
    assert.match(modsecurity, /^SecRuleEngine On$/m);
    assert.doesNotMatch(modsecurity, /DetectionOnly$/m);
    assert.match(modsecurity, /^SecUnicodeMapFile \/etc\/modsecurity\/unicode\.mapping 20127$/m);
    assert.match(modsecurity, /^SecRequestBodyNoFilesLimit 16777216$/m);
  });

  it('sets the paranoia level the topology asks for', () => {
    const files = renderApacheHop(deployment.topology, wafHop(deployment), { outDir: deployment.outDir });
    const tuning = files.find((f) => f.path.endsWith('crs-tuning.conf'))?.contents ?? '';
    assert.match(tuning, /setvar:tx\.paranoia_level=3,/);
    assert.match(tuning, /setvar:tx\.inbound_anomaly_score_threshold=5,/);
  });

  it('admits only the CN of the hop before it and verifies the next hop by its serverName', () => {
    const conf = renderApacheHop(deployment.topology, wafHop(deployment), { outDir: deployment.outDir })[0]?.contents ?? '';
    // docs/gateways/apache-modsecurity.md "Peers": the CN and the role, as the subject's one OU.
    assert.match(conf, /Require expr "%\{SSL_CLIENT_S_DN_CN\} in \{ 'gw-edge' \} && %\{SSL_CLIENT_S_DN_OU\} == 'gateway' && -z %\{SSL_CLIENT_S_DN_OU_1\}"/);
    // "Sessions": no cache and no tickets on the client-authenticated listener.
    assert.match(conf, /^SSLSessionCache none$/m);
    assert.match(conf, /^SSLSessionTickets off$/m);
    assert.match(conf, /^SSLCARevocationCheck chain$/m);
    assert.match(conf, /^ProxyPassMatch "\^\/" "https:\/\/localhost:\d+" nocanon$/m);
    // No backreference in the target: a "$1" would put the next hop behind Apache's default worker,
    // which opens a new connection (a new mTLS handshake) for every request.
    assert.doesNotMatch(conf, /ProxyPassMatch .*\$1/);
    assert.match(conf, /^SSLProxyCARevocationCheck chain$/m);
    assert.match(conf, /^SSLProxyCheckPeerName on$/m);
  });

  it('refuses to write a serverName that would break out of the config', () => {
    const hop = { ...wafHop(deployment), serverName: 'waf"\nInclude /etc/passwd' };
    assert.throws(() => renderApacheHop(deployment.topology, hop, { outDir: deployment.outDir }), TypeError);
  });

  it('is accepted by apache2 -t at every paranoia level', async () => {
    requireProgram('apache2');
    for (const level of [1, 2, 3, 4]) {
      const d = await createDeployment(wafDocument(await portsFor('edge', 'waf', 'service'), level));
      try {
        const hop = wafHop(d);
        await writeRenderedFiles(d.outDir, renderApacheHop(d.topology, hop, { outDir: d.outDir }));
        const hopDir = join(d.outDir, hop.id);
        await prepareHop(hop, hopDir);
        const check = apacheProgram.check(hopDir, hop);
        const result = await run(check.command, [...check.args]).catch((error: { stderr?: string }) => ({ stdout: '', stderr: `FAILED ${error.stderr ?? ''}` }));
        assert.match(result.stderr, /Syntax OK/, `paranoia ${level}: ${result.stderr}`);
      } finally {
        d.remove();
      }
    }
  });
});
