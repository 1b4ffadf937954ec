#!/usr/bin/env node
/**
 * The `ptc-agent` command. Everything lives in main.ts; this file only binds it to the process.
 * The exit code is set, not forced, so stdout (a large --json bundle) drains before node exits.
 */
import { main } from './main.js';

const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

void main({
  argv: process.argv.slice(2),
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  onSignal(handler) {
    for (const signal of signals) process.on(signal, handler);
    return () => {
      for (const signal of signals) process.off(signal, handler);
    };
  },
  exit: (code) => process.exit(code),
}).then((code) => {
  process.exitCode = code;
});
