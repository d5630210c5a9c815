/**
 * `node check-main.js FILE`: the Envoy config check as a program, so `envoyProgram.check` has an
 * invocation like every other gateway's (`nginx -t`…). Prints each problem as `path: message` on
 * stderr; exit 0 when the Envoy v3 API accepts the file, 1 when not, 2 when it cannot be read.
 */
import { readFileSync } from 'node:fs';
import { checkEnvoyConfig } from './check.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: check-main FILE\n');
  process.exitCode = 2;
} else {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    process.stderr.write(`${file}: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
  if (text !== undefined) {
    const problems = checkEnvoyConfig(text);
    for (const p of problems) process.stderr.write(`${file}: ${p.path || '(root)'}: ${p.message}\n`);
    if (problems.length === 0) process.stdout.write(`${file}: accepted by the Envoy v3 API schema\n`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  }
}
