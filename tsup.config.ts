import { defineConfig } from 'tsup';

const library = {
  index: 'src/index.ts',
  'testing/index': 'src/testing/index.ts',
  // Adapter subpaths share one build (splitting) so errors.ts exists once and `instanceof` holds.
  anthropic: 'src/generators/anthropic.ts',
  'ai-sdk': 'src/generators/ai-sdk.ts',
  daytona: 'src/runners/daytona.ts',
  redis: 'src/caches/redis.ts',
  'roma/index': 'src/roma/index.ts',
  'eval/index': 'src/eval/index.ts',
};

export default defineConfig({
  entry: {
    ...library,
    // The bins (`ptc-agent`, `ptc-eval`). In this build, not one of their own, so they share the
    // library's chunks: a second copy of errors.ts would break `instanceof` between a bin and a
    // dynamically loaded adapter. Their CommonJS twins are by-products nothing points to.
    cli: 'src/cli/index.ts',
    'eval/cli': 'src/eval/cli.ts',
  },
  format: ['esm', 'cjs'],
  // No declarations for the bins: they have no API.
  dts: { entry: library },
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  // Every SDK stays external: Daytona loads modules at run time through createRequire,
  // so bundling it breaks, and users must be able to pick their own versions.
  external: ['@anthropic-ai/sdk', '@daytonaio/sdk', 'keyv', '@keyv/redis', 'vitest', 'ai', /^@ai-sdk\//],
  // ora (the CLI's live progress, 16 small packages) is bundled into a chunk only the CLI loads,
  // and only on a terminal: installing the library adds no dependency for it.
  noExternal: ['ora'],
});
