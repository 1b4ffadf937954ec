import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    // Adapter subpaths share one build (splitting) so errors.ts exists once and `instanceof` holds.
    anthropic: 'src/generators/anthropic.ts',
    'ai-sdk': 'src/generators/ai-sdk.ts',
    daytona: 'src/runners/daytona.ts',
    redis: 'src/caches/redis.ts',
    'roma/index': 'src/roma/index.ts',
    'eval/index': 'src/eval/index.ts',
    // The ptc-eval command (package.json "bin"); it loads the Anthropic SDK only when asked to.
    'eval/cli': 'src/eval/cli.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  // Every SDK stays external: Daytona loads modules at run time through createRequire,
  // so bundling it breaks, and users must be able to pick their own versions.
  external: ['@anthropic-ai/sdk', '@daytonaio/sdk', 'keyv', '@keyv/redis', 'vitest', 'ai', /^@ai-sdk\//],
});
