/**
 * Every command group of the CLI, in the order `--help` lists them. A group module exports a
 * `register(program)` that adds its subcommands; add one line here per group.
 */
import type { Command } from 'commander';
import { register as dsse } from './dsse.js';
import { register as pki } from './pki.js';
import { register as topology } from './topology.js';
import { register as gateway } from './gateway.js';
import { register as serve } from './serve.js';
import { register as stamper } from './stamper.js';
import { register as guard } from './guard.js';
import { register as scanner } from './scanner.js';

import { register as probe } from './probe.js';
import { register as evidence } from './evidence.js';
import { register as demo } from './demo.js';
import { register as systemd } from './systemd.js';
import { register as completion } from './completion.js';

export type RegisterGroup = (program: Command) => void;

export const commandGroups: RegisterGroup[] = [
  dsse,
  pki,
  topology,
  gateway,
  serve,
  stamper,
  guard,
  scanner,
  probe,
  evidence,
  demo,
  systemd,
  completion,
];
