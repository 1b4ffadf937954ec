import { describe, expect, test } from 'vitest';
import { AnthropicCodeGenerator } from '../../src/generators/anthropic.js';
import { checkGeneratedFiles } from '../../src/internal/files.js';
import { firstRequest } from './fixtures.js';

/**
 * Talks to the real Anthropic API. Runs only when ANTHROPIC_API_KEY is set; costs a few cents.
 * Set ANTHROPIC_TEST_MODEL to try another model than the default.
 */
const apiKey = process.env.ANTHROPIC_API_KEY;
const reason = 'ANTHROPIC_API_KEY is not set';
if (!apiKey) console.warn(`[anthropic-real] SKIPPED: ${reason}; the real Anthropic API test did not run.`);

describe.skipIf(!apiKey)(`AnthropicCodeGenerator against the real API${apiKey ? '' : ` (skipped: ${reason})`}`, () => {
  test(
    'writes code and tests for a small task through write_files',
    async () => {
      const generator = new AnthropicCodeGenerator({
        ...(apiKey ? { apiKey } : {}),
        ...(process.env.ANTHROPIC_TEST_MODEL ? { model: process.env.ANTHROPIC_TEST_MODEL } : {}),
        maxTokens: 16_000,
      });
      const progress: number[] = [];
      const result = await generator.generate(firstRequest(), {
        signal: AbortSignal.timeout(240_000),
        onProgress: (item) => progress.push(item.outputTokens),
      });
      const checked = checkGeneratedFiles(result.files, {
        maxFiles: 50,
        maxFileBytes: 1_000_000,
        maxTotalBytes: 5_000_000,
      }, new Set(['tests/test_acceptance.py']));
      expect(checked.violations).toEqual([]);
      expect(checked.files.some((file) => file.kind === 'test')).toBe(true);
      expect(checked.files.some((file) => file.kind === 'source' && file.content.includes('def add'))).toBe(true);
      expect(result.usage.apiCalls).toBeGreaterThanOrEqual(1);
      expect(result.usage.outputTokens).toBeGreaterThan(0);
      expect(progress.length).toBeGreaterThan(0);
      const serialized = JSON.stringify(result);
      expect(serialized).not.toContain(apiKey);
    },
    300_000,
  );
});
