import { describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { RomaStreamTranslator, fromRomaPlan, parseRomaPlan, sseJson, toRomaResult, type RomaStreamMessage } from '../../src/roma/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../../src/testing/index.js';

/** Python's `str.splitlines` boundaries: what httpx's `aiter_lines` cuts an SSE stream at. */
const PYTHON_LINE_BREAKS = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

describe('sseJson', () => {
  test('escapes U+0085, U+2028 and U+2029, which JSON leaves raw, and still parses to the same value', () => {
    const value = { text: 'a\u2028b\u2029c\u0085d\ne\rf\vg\fh\x1ci', ['key\u2028']: 1 };
    expect(JSON.stringify(value).split(PYTHON_LINE_BREAKS).length).toBeGreaterThan(1);
    const line = sseJson(value);
    expect(line.split(PYTHON_LINE_BREAKS)).toEqual([line]);
    expect(JSON.parse(line)).toEqual(value);
  });
});

describe('RomaStreamTranslator', () => {
  test('a red-then-green run: StreamMessage shape, ROMA id everywhere, progress 0 → 1, ends with execution_completed', async () => {
    const romaPlan = parseRomaPlan({ execution_id: 'ид\u2028роmа', scaffolding: { task_description: 'add' }, max_iterations: 3 });
    const generator = new ScriptedCodeGenerator([
      { files: [{ path: 'calc.py', content: 'def add(a, b): return a - b\n' }] },
      { files: [{ path: 'calc.py', content: 'def add(a, b): return a + b\n' }] },
    ]);
    const runner = new FakeSandboxRunner({ results: ({ files }) => (files.get('calc.py')?.includes('a + b') ? { passed: ['test_add'] } : { failed: ['test_add'] }) });
    const agent = new PTCAgent({ generator, runner, cache: new MemoryCache() });
    const translator = new RomaStreamTranslator(romaPlan.execution_id);
    const messages: RomaStreamMessage[] = [translator.connected()];
    for await (const item of agent.stream(fromRomaPlan(romaPlan))) {
      if (item.type === 'bundle') messages.push(translator.result(toRomaResult(item.bundle, { plan: romaPlan })));
      else {
        const { type, ...payload } = item;
        const message = translator.event(type, payload);
        if (message) messages.push(message);
      }
    }
    for (const message of messages) {
      expect(Object.keys(message)).toEqual(['id', 'event_type', 'timestamp', 'execution_id', 'stage', 'progress', 'message', 'data', 'error']);
      expect(message.execution_id).toBe('ид\u2028роmа');
      expect(message.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
      expect(message.id).toMatch(/^[0-9a-f-]{36}$/);
    }
    const types = messages.map((message) => message.event_type);
    expect(types[0]).toBe('connected');
    expect(types).toContain('execution_started');
    expect(types.filter((type) => type === 'test_failed' || type === 'test_passed')).toEqual(['test_failed', 'test_passed']);
    expect(types.at(-1)).toBe('execution_completed');
    expect(messages.at(-1)!.data).toMatchObject({ status: 'SUCCESS', execution_id: 'ид\u2028роmа' });
    const progress = messages.map((message) => message.progress).filter((value): value is number => value !== null);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(1);
    expect(Math.max(...progress.slice(0, -1))).toBeLessThan(1);
  });

  test('a failed run ends with execution_failed and its error; the keepalive is a progress message', () => {
    const translator = new RomaStreamTranslator('x');
    expect(translator.keepalive()).toMatchObject({ event_type: 'progress', message: 'Waiting for updates...', progress: null });
    expect(translator.error('Execution not found')).toMatchObject({ event_type: 'error', error: 'Execution not found', message: 'Error: Execution not found' });
    const failed = translator.result({ status: 'FAILURE', error_message: 'LLM provider error' } as never);
    expect(failed).toMatchObject({ event_type: 'execution_failed', error: 'LLM provider error', progress: 1 });
    expect(translator.result({ status: 'TIMEOUT', error_message: null } as never)).toMatchObject({ event_type: 'execution_failed', error: 'TIMEOUT' });
  });
});
