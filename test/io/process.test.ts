/**
 * The one process runtime (docs/CONVENTIONS.md#processes), on real child processes (Node itself):
 * a program that ignores SIGTERM is killed after the grace, a missing program is reported as such,
 * readiness gives up when the process dies, and a reload reaches the process or says why not.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollReady, reloadManaged, runCommand, spawnManaged, waitUntil, type ManagedProcess } from '../../src/io/process.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('stella-process-');
after(() => dir.remove());

let counter = 0;
/** Runs `script` in a child Node process with its output in a fresh log file. */
function node(script: string): ManagedProcess {
  counter += 1;
  return spawnManaged(`child-${counter}`, process.execPath, ['-e', script], { logFile: join(dir.path, `child-${counter}.log`) });
}

const logHas = (proc: ManagedProcess, text: string) => async (): Promise<boolean> => readFileSync(proc.logFile, 'utf8').includes(text);

describe('spawnManaged', () => {
  it('stops a program that ignores SIGTERM with SIGKILL once the grace is over', async () => {
    const proc = node("process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000);");
    await waitUntil(proc, logHas(proc, 'up'), 10_000, 'child');
    const started = Date.now();
    await proc.stop(300);
    assert.equal(proc.hasExited(), true);
    assert.equal(await proc.exited, null, 'ended by a signal, not an exit code');
    assert.ok(Date.now() - started >= 300, 'waited for the grace first');
    assert.match(readFileSync(proc.logFile, 'utf8'), /ignored/);
  });

  it('ends a program that honours SIGTERM without waiting for the grace', async () => {
    const proc = node("process.on('SIGTERM', () => process.exit(7)); console.log('up'); setInterval(() => {}, 1000);");
    await waitUntil(proc, logHas(proc, 'up'), 10_000, 'child');
    const started = Date.now();
    await proc.stop(60_000);
    assert.equal(await proc.exited, 7);
    assert.ok(Date.now() - started < 30_000);
  });

  it('reports a program that does not exist as a failed start, not as a running process', async () => {
    const proc = spawnManaged('missing', join(dir.path, 'no-such-program'), [], { logFile: join(dir.path, 'missing.log') });
    assert.equal(await pollReady(proc, async () => true, 5_000), 'exited');
    assert.equal(await proc.exited, null);
    assert.equal((proc.startError() as NodeJS.ErrnoException | null)?.code, 'ENOENT');
    await proc.stop(); // stopping what never ran is a no-op
  });
});

describe('pollReady and waitUntil', () => {
  it('give up as soon as the process exits, also while a check is still in flight', async () => {
    const proc = node("console.error('boom: cannot bind'); process.exit(3);");
    const never = (): Promise<boolean> => new Promise(() => undefined);
    assert.equal(await pollReady(proc, never, 60_000), 'exited');
    await assert.rejects(waitUntil(proc, never, 60_000, 'the child'), /the child: the process exited\n.*boom: cannot bind/s);
  });

  it('time out with the log tail when the check never passes', async () => {
    const proc = node("console.log('still starting'); setInterval(() => {}, 1000);");
    try {
      await assert.rejects(waitUntil(proc, async () => false, 300, 'slow child'), /slow child: not ready after 300 ms\n.*still starting/s);
    } finally {
      await proc.stop();
    }
  });

  it('count a check that throws as not ready yet', async () => {
    let calls = 0;
    const outcome = await pollReady(null, async () => {
      calls += 1;
      if (calls < 3) throw new Error('refused');
      return true;
    }, 10_000);
    assert.equal(outcome, 'ready');
    assert.equal(calls, 3);
  });
});

describe('reloadManaged', () => {
  it('sends the reload signal to the running process', async () => {
    const proc = node("process.on('SIGHUP', () => console.log('reloaded')); console.log('up'); setInterval(() => {}, 1000);");
    try {
      await waitUntil(proc, logHas(proc, 'up'), 10_000, 'child');
      await reloadManaged(proc, { kind: 'signal', signal: 'SIGHUP' });
      await waitUntil(proc, logHas(proc, 'reloaded'), 10_000, 'reload');
      assert.equal(proc.hasExited(), false);
    } finally {
      await proc.stop();
    }
  });

  it('refuses a program without an in-place reload, a failed reload command and a process that has exited', async () => {
    const proc = node("console.log('up'); setInterval(() => {}, 1000);");
    await waitUntil(proc, logHas(proc, 'up'), 10_000, 'child');
    await assert.rejects(reloadManaged(proc, { kind: 'unsupported', reason: 'restart it instead' }), /^Error: restart it instead$/);
    const failing = { command: process.execPath, args: ['-e', "console.error('admin socket refused'); process.exit(1)"] };
    await assert.rejects(reloadManaged(proc, { kind: 'command', invocation: failing }), /failed: admin socket refused/);
    await proc.stop();
    await assert.rejects(reloadManaged(proc, { kind: 'signal', signal: 'SIGHUP' }), /not running/);
  });
});

describe('runCommand', () => {
  it("returns a command's output and whether it succeeded", async () => {
    assert.deepEqual(await runCommand({ command: process.execPath, args: ['-e', "console.log('syntax is ok')"] }), { ok: true, output: 'syntax is ok' });
    const failed = await runCommand({ command: process.execPath, args: ['-e', "console.error('line 3: unknown directive'); process.exit(1)"] });
    assert.deepEqual(failed, { ok: false, output: 'line 3: unknown directive' });
  });

  it('kills a command that outlives its timeout', async () => {
    const result = await runCommand({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }, { timeoutMs: 300 });
    assert.equal(result.ok, false);
  });
});
