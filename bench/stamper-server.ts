/**
 * Child process of the `stamper-cpu` bench (bench/stamper-cpu.bench.ts): a forward-auth stamper as
 * `stella-gateway stamper` answers on a Unix socket (the product's `answerStamp` on `node:http`,
 * with a decision log line per stamp), or, as the baseline, a bare `node:http` handler answering
 * the same headers with a fixed 200. It reports its own CPU time (all threads) on request over IPC.
 *
 * Usage (by the bench): node --import tsx bench/stamper-server.ts stamper|bare SOCKET LOGFILE
 */
import { createServer } from 'node:http';
import pino from 'pino';
import { answerStamp, stamperCore } from '../src/provenance/stamper.js';
import { STAMPER_KEEP_ALIVE_TIMEOUT_MS } from '../src/provenance/stamper-listen.js';
import { fixtureKeys, fixtureTopology, NOW_MS } from '../test/provenance/support/fixture.js';

const [mode, socket, logFile] = process.argv.slice(2);
if ((mode !== 'stamper' && mode !== 'bare') || !socket || !logFile) throw new TypeError('usage: stamper-server.ts stamper|bare SOCKET LOGFILE');
const topology = fixtureTopology(3, 8);
const decisionLog = pino({ name: 'stamper-gw-edge', level: 'info' }, pino.destination(logFile));
const core = stamperCore({ topology, hopId: 'gw-edge', keys: fixtureKeys(topology), now: () => NOW_MS, decisionLog });

const server = createServer({ keepAliveTimeout: STAMPER_KEEP_ALIVE_TIMEOUT_MS }, (request, response) => {
  if (mode === 'stamper') return answerStamp(core, request, response);
  response.writeHead(200, { 'x-stella-provenance': 'x', 'signature-input': '', signature: '', 'content-length': '0' });
  response.end();
});
let mark = process.cpuUsage();
process.on('message', (message) => {
  if (message === 'mark') {
    mark = process.cpuUsage();
    process.send!({ cpuMicros: 0 });
  } else if (message === 'cpu') {
    const used = process.cpuUsage(mark);
    process.send!({ cpuMicros: used.user + used.system });
  }
});
server.listen(socket, () => process.send!({ ready: true }));
