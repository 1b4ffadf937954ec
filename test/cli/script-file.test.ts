import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { GenerationError } from '../../src/index.js';
import { loadGeneratorScript, parseGeneratorScript, scriptByIteration } from '../../src/testing/index.js';
import { closest } from '../../src/internal/validate.js';

test('a script file: files per iteration, errors with their retryability, the last step repeating', () => {
  const steps = parseGeneratorScript([[{ path: 'a.py', content: 'x = 1' }], { error: 'refused' }, { error: 'flaky', retryable: true }]);
  const pick = scriptByIteration(steps);
  expect(pick({ iteration: 1 } as never)).toEqual({ files: [expect.objectContaining({ path: 'a.py' })] });
  const refused = pick({ iteration: 2 } as never);
  expect('error' in refused && refused.error instanceof GenerationError && !refused.error.retryable).toBe(true);
  const flaky = pick({ iteration: 9 } as never);
  expect('error' in flaky && (flaky.error as GenerationError).retryable).toBe(true);
});

test.each([
  [[], 'at least one iteration'],
  [{}, 'is not a valid script'],
  [[[]], 'at least one file'],
  [[{ error: 'x', retry: true }], 'is not a valid script'],
  // A hostile path is left to the agent, which refuses it as it would a model's (OUTPUT_REJECTED).
  [[[{ path: 'a.py' }]], 'is not a valid script'],
])('hostile script %j is refused, naming the label', (json, message) => {
  expect(() => parseGeneratorScript(json, { label: '--script' })).toThrow(message);
  expect(() => parseGeneratorScript(json, { label: '--script' })).toThrow(/^--script: /);
});

test('loadGeneratorScript names the path when it cannot read or parse it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ptc-script-'));
  try {
    await writeFile(join(dir, 'bad.json'), '[');
    await expect(loadGeneratorScript(join(dir, 'bad.json'), { label: 'PTC_SCRIPT' })).rejects.toThrow(/^PTC_SCRIPT: .*bad\.json is not JSON/);
    await expect(loadGeneratorScript(join(dir, 'none.json'))).rejects.toThrow(/^script: cannot read .*none\.json/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('closest: typos and prefixes get a suggestion, unrelated words none', () => {
  const known = ['json', 'out', 'overwrite', 'max-iterations', 'timeout-ms'];
  expect(closest('jsno', known)).toBe('json');
  expect(closest('max', known)).toBe('max-iterations');
  expect(closest('timeout', known)).toBe('timeout-ms');
  expect(closest('frobnicate', known)).toBeUndefined();
});
