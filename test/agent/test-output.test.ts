import { describe, expect, test } from 'vitest';
import { PTCAgent, type PTCEventMap } from '../../src/index.js';
import type { CommandResult, RunOptions, SandboxRunner, SandboxSession } from '../../src/contracts/sandbox-runner.js';
import { Redactor } from '../../src/internal/redact.js';
import { FakeSandboxRunner, ScriptedCodeGenerator, type FakeTestResult } from '../../src/testing/index.js';
import { BUGGY, FIXED, PLAN, expectNoOpenSession, judgeCalc } from '../helpers.js';

type OutputEvent = PTCEventMap['tests:output'];
const SECRET = 'sk-test-0123456789abcdef';

/** Runs one plan whose test runs print `output`, collecting `tests:output` and the order of all events. */
async function runWith(results: FakeTestResult | ((context: { runIndex: number; files: ReadonlyMap<string, string> }) => FakeTestResult), options: Partial<ConstructorParameters<typeof PTCAgent>[0]> = {}, files = FIXED) {
  const runner = new FakeSandboxRunner({ results });
  const agent = new PTCAgent({ generator: new ScriptedCodeGenerator([{ files: BUGGY }, { files }]), runner, cache: false, ...options });
  const outputs: OutputEvent[] = [];
  const order: string[] = [];
  agent.on('tests:output', (event) => {
    outputs.push(event);
    order.push('tests:output');
  });
  for (const name of ['tests:start', 'tests:end', 'run:end'] as const) agent.on(name, () => order.push(name));
  const bundle = await agent.execute({ ...PLAN, maxIterations: 2 });
  expectNoOpenSession(runner);
  return { bundle, outputs, order, runner };
}

const joined = (events: readonly OutputEvent[], stream: 'stdout' | 'stderr') => events.filter((event) => event.stream === stream).map((event) => event.chunk).join('');

describe('tests:output', () => {
  test('carries the iteration, the stream and the text, between tests:start and tests:end', async () => {
    const { outputs, order } = await runWith({ passed: ['t'], output: [{ stream: 'stdout', chunk: 'collected 1 item\n' }, { stream: 'stderr', chunk: 'a warning\n' }] });
    expect(outputs.length).toBeGreaterThanOrEqual(2);
    expect(joined(outputs, 'stdout')).toBe('collected 1 item\n');
    expect(joined(outputs, 'stderr')).toBe('a warning\n');
    expect(outputs[0]).toMatchObject({ iteration: 1, executionId: expect.any(String), timestamp: expect.any(Number) });
    const first = order.indexOf('tests:start');
    const end = order.indexOf('tests:end');
    expect(order.slice(first + 1, end).every((name) => name === 'tests:output')).toBe(true);
    expect(order.slice(end).filter((name) => name === 'tests:output')).toEqual([]);
  });

  test('chunks arriving within one throttle window go out as one event; the first goes at once', async () => {
    const output = [
      { stream: 'stdout' as const, chunk: 'A' },
      { stream: 'stdout' as const, chunk: 'B', delayMs: 30 },
      { stream: 'stdout' as const, chunk: 'C', delayMs: 30 },
    ];
    const { outputs } = await runWith({ passed: ['t'], output }, { testOutput: { throttleMs: 60_000 } });
    // A leaves at once; B and C wait out the window, which the command's end cuts short.
    expect(outputs.map((event) => event.chunk)).toEqual(['A', 'BC']);
  });

  test('a burst of chunks in one tick is one event per stream', async () => {
    const output = Array.from({ length: 30 }, (_, index) => ({ stream: index % 2 === 0 ? ('stdout' as const) : ('stderr' as const), chunk: `line ${index}\n` }));
    const { outputs } = await runWith({ passed: ['t'], output });
    expect(outputs.map((event) => event.stream)).toEqual(['stdout', 'stderr']);
    expect(joined(outputs, 'stdout')).toBe(output.filter((_, index) => index % 2 === 0).map((piece) => piece.chunk).join(''));
  });

  test('an event is at most maxCharsPerEvent: a flood keeps its head and tail', async () => {
    const { outputs } = await runWith({ passed: ['t'], output: [{ stream: 'stdout', chunk: `START${'x'.repeat(100_000)}END` }] }, { testOutput: { maxCharsPerEvent: 1_000 } });
    expect(outputs).toHaveLength(1);
    const chunk = outputs[0]!.chunk;
    expect(chunk.length).toBeLessThanOrEqual(1_000);
    expect(chunk.startsWith('START')).toBe(true);
    expect(chunk.endsWith('END')).toBe(true);
    expect(chunk).toMatch(/characters omitted/);
  });

  test('a run forwards at most maxCharsPerRun over all iterations, then marks the cut and stops', async () => {
    const { outputs, bundle } = await runWith(
      ({ files }) => ({ ...judgeCalc({ files }), output: [{ stream: 'stdout', chunk: 'o'.repeat(80) }, { stream: 'stderr', chunk: 'e'.repeat(80), delayMs: 5 }] }),
      { testOutput: { maxCharsPerRun: 100 } },
    );
    expect(bundle.iterations).toHaveLength(2);
    expect(outputs.reduce((sum, event) => sum + event.chunk.length, 0)).toBe(100);
    expect(outputs.at(-1)?.truncated).toBe(true);
    expect(outputs.filter((event) => event.truncated)).toHaveLength(1);
    // The report keeps the whole output all the same.
    expect(bundle.testReport?.stdout).toBe('o'.repeat(80));
  });

  test('a secret split across chunks is scrubbed: it never appears in one event nor across events', async () => {
    const pieces = [`token=${SECRET.slice(0, 9)}`, SECRET.slice(9, 15), `${SECRET.slice(15)} done\n`];
    const output = pieces.map((chunk, index) => ({ stream: 'stdout' as const, chunk, delayMs: index === 0 ? 0 : 40 }));
    // throttleMs 0: every chunk would leave on its own, so only holding back can keep the secret whole.
    const { outputs, bundle } = await runWith({ passed: ['t'], output }, { secrets: [SECRET], testOutput: { throttleMs: 0 } });
    const text = joined(outputs, 'stdout');
    expect(text).not.toContain(SECRET);
    expect(text).toBe('token=[redacted] done\n');
    expect(JSON.stringify(bundle)).not.toContain(SECRET);
  });

  test('a secret sent one character at a time is scrubbed; a mere prefix at the end is sent as it is', async () => {
    const text = `a${SECRET}b ${SECRET.slice(0, 10)}`;
    const output = [...text].map((chunk) => ({ stream: 'stderr' as const, chunk, delayMs: 2 }));
    const { outputs } = await runWith({ passed: ['t'], output }, { secrets: [SECRET], testOutput: { throttleMs: 0 } });
    expect(outputs.length).toBeGreaterThan(3);
    expect(joined(outputs, 'stderr')).toBe(`a[redacted]b ${SECRET.slice(0, 10)}`);
  });

  test('nobody listening: the runner is not even handed a callback', async () => {
    const runner = new FakeSandboxRunner({ results: { passed: ['t'], output: [{ stream: 'stdout', chunk: 'x' }] } });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false });
    agent.on('tests:end', () => {});
    await agent.execute(PLAN);
    expect(runner.sessions[0]!.runOptions[0]!.onOutput).toBeUndefined();
    const listening = new FakeSandboxRunner();
    const observed = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: listening, cache: false });
    observed.on('tests:output', () => {});
    await observed.execute(PLAN);
    expect(typeof listening.sessions[0]!.runOptions[0]!.onOutput).toBe('function');
  });

  test('no event after run:end, though the runner goes on calling back after the run stopped', async () => {
    let calls = 0;
    let stopTalking: () => void = () => {};
    const talking = new Promise<void>((resolve) => (stopTalking = resolve));
    // A hostile runner: its command ignores the abort and keeps printing for a while.
    const runner: SandboxRunner = {
      id: 'chatty',
      async open() {
        const session: SandboxSession = {
          id: 'chatty-1',
          async sync() {},
          async readFile() {
            return undefined;
          },
          async close() {},
          run(_command: readonly string[], options: RunOptions): Promise<CommandResult> {
            const timer = setInterval(() => {
              calls += 1;
              options.onOutput?.('stdout', `line ${calls}\n`);
              if (calls >= 40) {
                clearInterval(timer);
                stopTalking();
              }
            }, 10);
            return new Promise(() => {});
          },
        };
        return session;
      },
    };
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false });
    const order: string[] = [];
    agent.on('tests:output', () => order.push('tests:output'));
    agent.on('run:end', () => order.push('run:end'));
    const controller = new AbortController();
    agent.on('tests:output', () => controller.abort());
    const bundle = await agent.execute(PLAN, { signal: controller.signal });
    await talking;
    expect(bundle.status).toBe('cancelled');
    expect(calls).toBe(40);
    expect(order).toContain('tests:output');
    expect(order.at(-1)).toBe('run:end');
    expect(order.filter((name) => name === 'run:end')).toHaveLength(1);
  });

  test('parallel candidates: each candidate\'s output says which candidate it is', async () => {
    const runner = new FakeSandboxRunner({ results: ({ files }) => ({ ...judgeCalc({ files }), output: [{ stream: 'stdout', chunk: files.get('calc.py')?.includes('a + b') ? 'green\n' : 'red\n' }] }) });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator([{ files: BUGGY }, { files: FIXED }]), runner, cache: false });
    const outputs: OutputEvent[] = [];
    agent.on('tests:output', (event) => outputs.push(event));
    const bundle = await agent.execute({ ...PLAN, candidates: 2 });
    expect(bundle.status).toBe('success');
    expect(outputs.map((event) => [event.candidate, event.chunk]).sort()).toEqual([
      [1, 'red\n'],
      [2, 'green\n'],
    ]);
    expectNoOpenSession(runner);
  });

  test('options are validated: a bad throttle, a tiny event cap or an unknown key throws a TypeError naming it', () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    expect(() => new PTCAgent({ generator, testOutput: { throttleMs: -1 } })).toThrow(/testOutput\.throttleMs/);
    expect(() => new PTCAgent({ generator, testOutput: { throttleMs: 1.5 } })).toThrow(/testOutput\.throttleMs/);
    expect(() => new PTCAgent({ generator, testOutput: { maxCharsPerEvent: 10 } })).toThrow(/testOutput\.maxCharsPerEvent/);
    expect(() => new PTCAgent({ generator, testOutput: { maxCharsPerRun: -5 } })).toThrow(/testOutput\.maxCharsPerRun/);
    expect(() => new PTCAgent({ generator, testOutput: { throttleMS: 5 } as never })).toThrow(/throttleMs/);
  });
});

describe('Redactor.partialSuffixLength', () => {
  test('finds the longest end that starts a secret, and nothing for a whole secret or unrelated text', () => {
    const redactor = new Redactor([SECRET, 'another-secret-xyz'], {});
    expect(redactor.partialSuffixLength('hello sk-test-01')).toBe('sk-test-01'.length);
    expect(redactor.partialSuffixLength('hello s')).toBe(1);
    expect(redactor.partialSuffixLength('hello another-se')).toBe('another-se'.length);
    expect(redactor.partialSuffixLength('hello world')).toBe(0);
    expect(redactor.partialSuffixLength(`x ${SECRET}`)).toBe(0);
    expect(new Redactor([], {}).partialSuffixLength('anything')).toBe(0);
  });
});
