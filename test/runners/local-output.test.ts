import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { SandboxRunner, SandboxSession } from '../../src/contracts/sandbox-runner.js';
import { PTCAgent, type PTCEventMap } from '../../src/index.js';
import type { LocalSandboxSession } from '../../src/runners/local/session.js';
import { ScriptedCodeGenerator } from '../../src/testing/index.js';
import { quietRunner, signal } from './local-helpers.js';

// Handshakes go through the host's filesystem, which only isolation 'none' shares with the command.
const scratch = mkdtempSync(join(tmpdir(), 'ptc-local-output-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the local runner streams a command\'s output while it runs', () => {
  test('the command waits until the listener has heard its first line: only live output lets it finish', async () => {
    const go = join(scratch, 'go-runner');
    const { runner } = quietRunner({ isolation: 'none' });
    const session = await runner.open({ executionId: 'stream-1', language: 'python', dependencies: [], env: { GO_FILE: go }, signal: signal() });
    try {
      const heard: string[] = [];
      const result = await session.run(['sh', '-c', 'echo ready; i=0; while [ ! -e "$GO_FILE" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; [ -e "$GO_FILE" ] && echo released'], {
        timeoutMs: 30_000,
        signal: signal(),
        onOutput: (stream, chunk) => {
          heard.push(chunk);
          if (stream === 'stdout' && chunk.includes('ready')) writeFileSync(go, '');
        },
      });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe('ready\nreleased\n');
      expect(heard.join('')).toBe('ready\nreleased\n');
    } finally {
      await session.close();
    }
  }, 40_000);

  test('a character cut between two writes reaches the listener whole', async () => {
    const { runner } = quietRunner({ isolation: 'none' });
    const session = await runner.open({ executionId: 'stream-2', language: 'python', dependencies: [], env: {}, signal: signal() });
    try {
      const heard: string[] = [];
      const result = await session.run(['sh', '-c', "printf '\\303'; sleep 0.3; printf '\\251\\n'"], { timeoutMs: 20_000, signal: signal(), onOutput: (_stream, chunk) => heard.push(chunk) });
      expect(result.stdout).toBe('é\n');
      expect(heard.join('')).toBe('é\n');
      expect(heard.join('')).not.toContain('\uFFFD');
    } finally {
      await session.close();
    }
  }, 30_000);

  test.each([
    ['a cold run', false],
    ['a warm standby run', true],
  ])('through the agent (%s): real pytest progress arrives as several tests:output events before tests:end', async (_name, warmPython) => {
    const go = join(scratch, `go-agent-${warmPython}`);
    const testFile = [
      'import os, time',
      '',
      'def test_first():',
      '    assert True',
      '',
      'def test_second_waits_for_the_listener():',
      '    # Released by the listener once it has seen test_first\'s progress dot.',
      '    for _ in range(300):',
      '        if os.path.exists(os.environ["GO_FILE"]):',
      '            return',
      '        time.sleep(0.05)',
      '    assert False, "the progress of the first test never reached the listener"',
      '',
    ].join('\n');
    const generator = new ScriptedCodeGenerator({ files: [{ path: 'tests/test_progress.py', content: testFile, kind: 'test' }] });
    const local = quietRunner({ isolation: 'none', warmPython }).runner;
    // Keeps the sessions, to tell a warm run from a cold one.
    const sessions: SandboxSession[] = [];
    const runner: SandboxRunner = {
      id: local.id,
      preflight: (spec) => local.preflight(spec),
      open: async (spec) => {
        const session = await local.open(spec);
        sessions.push(session);
        return session;
      },
    };
    const agent = new PTCAgent({ generator, runner, cache: false, sandboxEnv: { GO_FILE: go } });
    const order: string[] = [];
    const outputs: Array<PTCEventMap['tests:output']> = [];
    agent.on('tests:output', (event) => {
      order.push('tests:output');
      outputs.push(event);
      if (outputs.map((item) => item.chunk).join('').includes('.')) writeFileSync(go, '');
    });
    agent.on('tests:end', () => order.push('tests:end'));
    agent.on('run:end', () => order.push('run:end'));
    const bundle = await agent.execute({ taskDescription: 'progress', requirements: [], language: 'python', maxIterations: 1 });
    expect(bundle.testReport?.problem).toBeUndefined();
    expect(bundle.status).toBe('success');
    expect(existsSync(go)).toBe(true);
    expect(outputs.length).toBeGreaterThanOrEqual(2);
    expect(outputs.every((event) => event.iteration === 1)).toBe(true);
    expect(order.indexOf('tests:end')).toBeGreaterThan(order.lastIndexOf('tests:output'));
    expect(order.at(-1)).toBe('run:end');
    expect(outputs.map((event) => event.chunk).join('')).toContain('2 passed');
    expect((sessions[0] as LocalSandboxSession).warmRuns).toBe(warmPython ? 1 : 0);
  }, 60_000);
});
