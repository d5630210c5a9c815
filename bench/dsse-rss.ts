/**
 * Child process of dsse.bench.ts: measures how much the peak RSS grows while one large payload is
 * signed (`sign KEY PAYLOAD`) or one large envelope is parsed and verified (`verify KEY ENVELOPE`).
 * A fresh process makes `maxRSS` (a lifetime peak) mean exactly that step. Prints JSON.
 */
import { readFile } from 'node:fs/promises';
import { createSigner, createVerifier, loadKeyFile, parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelope } from '../src/dsse/index.js';

const [mode, keyPath, inputPath, payloadType = 'application/octet-stream'] = process.argv.slice(2);
if ((mode !== 'sign' && mode !== 'verify') || keyPath === undefined || inputPath === undefined) {
  process.stderr.write('usage: dsse-rss.ts sign|verify KEY FILE [PAYLOAD_TYPE]\n');
  process.exit(2);
}
const key = await loadKeyFile(keyPath);
const input = await readFile(inputPath);
const peakBeforeKiB = process.resourceUsage().maxRSS;
let payloadBytes: number;
if (mode === 'sign') {
  const json = serializeEnvelope(await signEnvelope(payloadType, input, [createSigner(key)]));
  payloadBytes = input.length;
  if (json.length === 0) throw new Error('empty envelope');
} else {
  const verified = await verifyEnvelope(parseEnvelope(input), { payloadType, verifiers: [createVerifier(key)] });
  payloadBytes = verified.payload.length;
}
const growthBytes = (process.resourceUsage().maxRSS - peakBeforeKiB) * 1024;
process.stdout.write(`${JSON.stringify({ mode, payloadBytes, growthBytes, growthPerPayloadByte: growthBytes / payloadBytes })}\n`);
