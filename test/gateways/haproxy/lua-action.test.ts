/**
 * The rendered v2 Lua action run many times outside HAProxy (Debian's lua5.3 with the same luaossl,
 * `support/lua-harness.lua` standing in for HAProxy's calls), so the DER → r‖s conversion meets its
 * rare cases deterministically: an r or s with leading zero bytes (about 1 in 128 signatures each)
 * must still come out as 64 bytes that verify. The real program runs in `v2.test.ts`.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { HAPROXY_V2_KEY_ENV, luaString, v2LuaModule } from '../../../src/gateways/haproxy/v2.js';
import { requireProgram } from '../../support/programs.js';
import { tempDir } from '../../support/tmp.js';
import type { V2TestKey } from '../support/pki.js';
import { parseV2Members, v2VerifiesWithNodeCrypto } from '../support/provenance-v2.js';
import type { ReceivedRequest } from '../support/upstream.js';

const HARNESS = join(dirname(fileURLToPath(import.meta.url)), 'support/lua-harness.lua');

/** Runs the action `count` times; one request (as a service would receive it) per line. */
function runAction(module: string, key: string, count: number, dir: string): Promise<ReceivedRequest[]> {
  const file = join(dir, `stella-v2-${randomBytes(4).toString('hex')}.lua`);
  writeFileSync(file, module);
  return new Promise((resolve, reject) => {
    execFile(requireProgram('lua5.3'), [HARNESS, file, String(count)], { env: { [HAPROXY_V2_KEY_ENV]: key }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      resolve(stdout.replace(/\n$/, '').split('\n').map((line) => {
        const [i, input, signature] = line.split('\t');
        return { method: 'GET', url: `/p?i=${i}`, headers: { 'x-stella-scan-id': `scan:${i}`, 'signature-input': input, signature }, body: '', peerCn: 'gw-edge' };
      }));
    });
  });
}

describe('the v2 Lua action outside HAProxy', () => {
  const tmp = tempDir('stella-lua-');
  after(tmp.remove);

  it('turns every DER ECDSA signature into 64 bytes that verify, leading zero bytes of r and s included (2,000 signatures)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const module = v2LuaModule({ hopId: 'gw-edge', seq: 1, previousLabel: null, strip: true, kid: 'edge-v2', alg: 'ecdsa-p256-sha256' });
    const requests = await runAction(module, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 2000, tmp.path);
    assert.equal(requests.length, 2000);
    const key: V2TestKey = { alg: 'ecdsa-p256-sha256', publicKey };
    let shortR = 0;
    let shortS = 0;
    for (const request of requests) {
      const [member] = parseV2Members(request);
      assert.ok(member);
      assert.equal(member.signature.length, 64);
      if (member.signature[0] === 0) shortR++;
      if (member.signature[32] === 0) shortS++;
      assert.ok(v2VerifiesWithNodeCrypto(member, request, key), `${request.url}: ${String(request.headers.signature)}`);
    }
    // Expected about 16 each; none in 2,000 would happen with probability ~1e-7.
    assert.ok(shortR > 0 && shortS > 0, `short r ${shortR}, short s ${shortS}: the rare cases were met`);
  });

  it('signs HMAC-SHA256 members that verify, and adds none at seq 2 when the previous member is absent', async () => {
    const secret = randomBytes(32);
    const module = v2LuaModule({ hopId: 'gw-internal', seq: 2, previousLabel: 'stella-1-gw-edge', strip: false, kid: 'internal-v2', alg: 'hmac-sha256' });
    // The harness sends no incoming members, so seq 2 finds no previous member and adds nothing
    // (the chained case runs on the real HAProxy in v2.test.ts).
    const unchained = await runAction(module, secret.toString('hex'), 3, tmp.path);
    assert.deepEqual(unchained.map((r) => [r.headers['signature-input'], r.headers.signature]), [['', ''], ['', ''], ['', '']], 'seq 2 without the previous member adds no member');
    const seq1 = v2LuaModule({ hopId: 'gw-edge', seq: 1, previousLabel: null, strip: true, kid: 'edge-v2', alg: 'hmac-sha256' });
    const signed = await runAction(seq1, secret.toString('hex'), 50, tmp.path);
    for (const request of signed) {
      const [member] = parseV2Members(request);
      assert.ok(member && v2VerifiesWithNodeCrypto(member, request, { alg: 'hmac-sha256', secret }));
    }
  });

  it('renders only constants it can quote: a quote, backslash, newline or bracket in one is a TypeError', () => {
    assert.equal(luaString('stella-2-gw-internal'), '"stella-2-gw-internal"');
    for (const bad of ['a"b', 'a\\b', 'a\nb', 'a]]b', '$(x)']) assert.throws(() => luaString(bad), TypeError, bad);
  });

  it('refuses to load without its key, or with an HMAC key shorter than 32 bytes', async () => {
    const module = v2LuaModule({ hopId: 'gw-edge', seq: 1, previousLabel: null, strip: true, kid: 'edge-v2', alg: 'hmac-sha256' });
    await assert.rejects(runAction(module, '', 1, tmp.path), new RegExp(`${HAPROXY_V2_KEY_ENV} must hold the v2 signing key of stella-1-gw-edge`));
    await assert.rejects(runAction(module, randomBytes(31).toString('hex'), 1, tmp.path), /at least 32 bytes as hex/);
  });
});
