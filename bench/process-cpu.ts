/**
 * CPU time of a deployment's processes, read from /proc (Linux): every process whose command line
 * names the deployment's folder, and their descendants (NGINX and Apache workers, HAProxy's
 * worker), grouped by program. The kernel's per-process user + system time, not a sampling
 * profiler: no tool to install, and the figures of one run add up to the CPU the machine spent.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's times. */
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  cpuSeconds: number;
}

function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid … utime stime …": comm may hold spaces and parentheses.
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    return {
      pid,
      comm: text.slice(text.indexOf('(') + 1, close),
      ppid: Number(fields[1]),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
    };
  } catch {
    return null; // exited meanwhile
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** The program a process belongs to: the gateway's name, or `locker`/`stamper`/`node` for Node. */
function programOf(stat: ProcStat, cmdline: string): string {
  if (stat.comm === 'node' || stat.comm.startsWith('node')) {
    if (/\sstamper\s/.test(cmdline)) return 'stamper';
    if (/\sserve\s/.test(cmdline)) return 'locker';
    return 'node';
  }
  if (stat.comm.startsWith('apache2')) return 'apache';
  if (stat.comm.startsWith('nginx')) return 'nginx';
  return stat.comm;
}

/** What each process of a deployment had spent at one moment: PID → its program and CPU seconds. */
export type CpuReading = Map<number, { program: string; seconds: number }>;

/** The CPU seconds so far of every process of the deployment whose files live under `folder`. */
export function programCpuSeconds(folder: string): CpuReading {
  const stats = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readStat(Number(name)))
    .filter((s): s is ProcStat => s !== null);
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const reading: CpuReading = new Map();
  const add = (s: ProcStat, program: string): void => {
    if (reading.has(s.pid)) return;
    reading.set(s.pid, { program, seconds: s.cpuSeconds });
    for (const child of children.get(s.pid) ?? []) add(child, program);
  };
  for (const s of stats) {
    if (s.pid === process.pid) continue;
    const cmdline = commandLine(s.pid);
    if (cmdline.includes(folder)) add(s, programOf(s, cmdline));
  }
  return reading;
}

/**
 * What each program spent between two readings, process by process (a process that started in
 * between counts whole). A process that exited in between took its CPU time with it: the program
 * then reads low, so that is written to stderr rather than passed over.
 */
export function cpuSpent(before: CpuReading, after: CpuReading): Map<string, number> {
  const spent = new Map<string, number>();
  for (const [pid, now] of after) spent.set(now.program, (spent.get(now.program) ?? 0) + now.seconds - (before.get(pid)?.seconds ?? 0));
  const gone = [...before].filter(([pid]) => !after.has(pid)).map(([, was]) => was.program);
  if (gone.length > 0) process.stderr.write(`process-cpu: ${gone.length} process(es) exited during the measurement (${[...new Set(gone)].join(', ')}); their CPU time since the first reading is not counted\n`);
  return spent;
}
