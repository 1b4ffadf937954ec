import { defineConfig } from 'vitest/config';

/**
 * `npm run test:eval-full`: the three offline generators on all 164 HumanEval problems through the
 * real local runner. Kept out of `npm test` (files end in .full.ts) for its length; CI runs it.
 */
export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/eval/full/**/*.full.ts'],
    testTimeout: 900_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
