/**
 * Child process of dsse.bench.ts: measures how much the peak RSS grows while one large payload is
 * signed (`sign KEY PAYLOAD`) or one large envelope is parsed and verified (`verify KEY ENVELOPE`).
 * A fresh process makes `maxRSS` (a lifetime peak) mean exactly that step. Prints JSON.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSigner, createVerifier, loadKeyFile, parseEnvelope, serializeEnvelopeBytes, signEnvelope, verifyEnvelope } from '../src/dsse/index.js';

const [mode, keyPath, inputPath, payloadType = 'application/octet-stream'] = process.argv.slice(2);
if ((mode !== 'sign' && mode !== 'verify') || keyPath === undefined || inputPath === undefined) {
  process.stderr.write('usage: dsse-rss.ts sign|verify KEY FILE [PAYLOAD_TYPE]\n');
  process.exit(2);
}
const key = await loadKeyFile(keyPath);
const input = await readFile(inputPath);
// Linux: reset the high-water mark to the current RSS (proc(5), clear_refs value 5), so that a
// transient peak while reading the input cannot hide the step's own peak. Elsewhere the lifetime
// peak (maxRSS) is the only measure, and a step below an earlier peak reads as 0.
const highWaterMark = (): number | null => {
  try {
    const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kib === undefined ? null : Number(kib);
  } catch {
    return null;
  }
};
let peakBeforeKiB = process.resourceUsage().maxRSS;
let measurePeak = (): number => process.resourceUsage().maxRSS;
try {
  writeFileSync('/proc/self/clear_refs', '5');
  const reset = highWaterMark();
  if (reset !== null) {
    peakBeforeKiB = reset;
    measurePeak = () => highWaterMark() ?? process.resourceUsage().maxRSS;
  }
} catch {
  // not Linux, or not allowed: keep maxRSS
}
let payloadBytes: number;
if (mode === 'sign') {
  const json = serializeEnvelopeBytes(await signEnvelope(payloadType, input, [createSigner(key)]));
  payloadBytes = input.length;
  if (json.length === 0) throw new Error('empty envelope');
} else {
  const verified = await verifyEnvelope(parseEnvelope(input), { payloadType, verifiers: [createVerifier(key)] });
  payloadBytes = verified.payload.length;
}
const growthBytes = (measurePeak() - peakBeforeKiB) * 1024;
process.stdout.write(`${JSON.stringify({ mode, payloadBytes, growthBytes, growthPerPayloadByte: growthBytes / payloadBytes })}\n`);
