import { describe, expect, test } from 'vitest';
import { codeGeneratorConformance, sandboxRunnerConformance, FakeSandboxRunner, ScriptedCodeGenerator, MemoryCache } from '../../src/testing/index.js';
import { GenerationError } from '../../src/index.js';
import { FIXED } from '../helpers.js';

// The fakes are adapters like any other: they pass the suites users run on theirs.
describe('ScriptedCodeGenerator', () => {
  codeGeneratorConformance(test, () => new ScriptedCodeGenerator({ files: FIXED }));

  test('answers one step per call and repeats the last', async () => {
    const generator = new ScriptedCodeGenerator([{ files: [{ path: 'a', content: '1' }] }, { files: [{ path: 'b', content: '2' }] }]);
    const context = { signal: new AbortController().signal, onProgress: () => {} };
    const request = {} as never;
    const paths = [];
    for (let index = 0; index < 3; index += 1) paths.push((await generator.generate(request, context)).files[0]?.path);
    expect(paths).toEqual(['a', 'b', 'b']);
    expect(generator.calls).toHaveLength(3);
  });

  test('retainCalls: false counts requests without keeping them, and still steps through the script', async () => {
    const generator = new ScriptedCodeGenerator([{ files: [{ path: 'a', content: '1' }] }, { files: [{ path: 'b', content: '2' }] }], { retainCalls: false });
    const context = { signal: new AbortController().signal, onProgress: () => {} };
    const paths = [];
    for (let index = 0; index < 3; index += 1) paths.push((await generator.generate({} as never, context)).files[0]?.path);
    expect(paths).toEqual(['a', 'b', 'b']);
    expect(generator.calls).toHaveLength(0);
    expect(generator.callCount).toBe(3);
  });

  test('throws scripted errors', async () => {
    const generator = new ScriptedCodeGenerator({ error: new GenerationError('boom') });
    await expect(generator.generate({} as never, { signal: new AbortController().signal, onProgress: () => {} })).rejects.toThrow('boom');
  });

  test('an empty script is a TypeError', () => {
    expect(() => new ScriptedCodeGenerator([])).toThrow(TypeError);
  });
});

describe('FakeSandboxRunner', () => {
  test('plays scripted output to onOutput before run resolves; without a script, stdout and stderr once each at the end', async () => {
    const signal = new AbortController().signal;
    const scripted = new FakeSandboxRunner({ results: { passed: ['t'], output: [{ stream: 'stdout', chunk: 'a' }, { stream: 'stderr', chunk: 'b', delayMs: 5 }, { stream: 'stdout', chunk: 'c' }] } });
    const session = await scripted.open({ executionId: 'x', language: 'python', dependencies: [], env: {}, signal });
    const heard: string[] = [];
    const result = await session.run(['pytest'], { timeoutMs: 1_000, signal, onOutput: (stream, chunk) => heard.push(`${stream}:${chunk}`) });
    expect(heard).toEqual(['stdout:a', 'stderr:b', 'stdout:c']);
    expect([result.stdout, result.stderr]).toEqual(['ac', 'b']);
    await session.close();

    const plain = new FakeSandboxRunner({ results: { passed: ['t'], stdout: 'out', stderr: 'err' } });
    const other = await plain.open({ executionId: 'y', language: 'python', dependencies: [], env: {}, signal });
    const calls: string[] = [];
    await other.run(['pytest'], { timeoutMs: 1_000, signal, onOutput: (stream, chunk) => calls.push(`${stream}:${chunk}`) });
    // A listener that throws costs its chunks, not the run.
    await expect(other.run(['pytest'], { timeoutMs: 1_000, signal, onOutput: () => { throw new Error('listener'); } })).resolves.toMatchObject({ exitCode: 0 });
    expect(calls).toEqual(['stdout:out', 'stderr:err']);
    await other.close();
  });

  sandboxRunnerConformance(test, () => new FakeSandboxRunner(), { executesCommands: false });

  test('counts sessions', async () => {
    const runner = new FakeSandboxRunner();
    const session = await runner.open({ executionId: 'x', language: 'python', dependencies: [], env: {}, signal: new AbortController().signal });
    expect(runner.openSessions).toBe(1);
    await session.close();
    await session.close();
    expect(runner.openSessions).toBe(0);
    expect(runner.closed).toBe(1);
  });
});

describe('MemoryCache', () => {
  test('expires entries after their TTL and isolates stored values', async () => {
    const cache = new MemoryCache();
    const signal = new AbortController().signal;
    const bundle = { executionId: 'x' } as never as Parameters<MemoryCache['set']>[1];
    await cache.set('k', bundle, { ttlMs: 20, signal });
    expect(await cache.get('k', { signal })).toEqual(bundle);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await cache.get('k', { signal })).toBeUndefined();
  });
});
