#!/usr/bin/env node
/**
 * The `ptc-eval` command (`npm run eval -- …` in this repository). Everything lives in
 * command.ts; this file only binds it to the process. No top-level await: it is also built as CJS.
 */
import { runCommand } from './command.js';

// Output piped into `head` and closed early is not an error of the eval.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const controller = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write('\nstopping: runs in flight are cancelled and the report keeps what finished (Ctrl-C again to quit at once)\n');
  controller.abort(new Error('interrupted'));
});

runCommand(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ptc-eval: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
