import type { GeneratedFileInput } from '../bundle.js';
import type { PlanInput } from '../plan.js';
import type { ScriptedStep } from '../testing/scripted-generator.js';

/**
 * The offline demo, embedded so `npx ptc-agent demo` needs nothing outside dist/. It is
 * JavaScript, tested with node --test: Node is the one toolchain every user of the CLI has
 * (the Python demo, `npm run demo`, needs pytest).
 */
export const DEMO_PLAN: PlanInput = {
  taskDescription: 'A slugify(text) function in src/slug.js',
  requirements: ['lowercase', 'runs of spaces and punctuation become one dash', 'no leading or trailing dashes'],
  language: 'javascript',
  maxIterations: 3,
  cacheStrategy: 'never',
};

const PACKAGE_JSON = '{ "type": "module" }\n';

const TESTS = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slugify } from '../src/slug.js';

test('lowercases and dashes spaces', () => {
  assert.equal(slugify('Hello World'), 'hello-world');
});

test('punctuation collapses to one dash', () => {
  assert.equal(slugify('Hello,   World!!'), 'hello-world');
});

test('no leading or trailing dashes', () => {
  assert.equal(slugify('  --Prompt Test Code--  '), 'prompt-test-code');
});

test('empty', () => {
  assert.equal(slugify(''), '');
});
`;

const BUGGY = `/** Lowercase, and turn every non-alphanumeric character into a dash. */
export function slugify(text) {
  return text.toLowerCase().replace(/[^a-z0-9]/g, '-');
}
`;

const FIXED = `/** Lowercase; runs of non-alphanumeric characters become one dash; no dashes at the ends. */
export function slugify(text) {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
`;

const files = (slug: string): GeneratedFileInput[] => [
  { path: 'package.json', content: PACKAGE_JSON },
  { path: 'src/slug.js', content: slug },
  { path: 'test/slug.test.js', content: TESTS, kind: 'test' },
];

/** Iteration 1 has the bug, iteration 2 fixes it. */
export const DEMO_SCRIPT: readonly ScriptedStep[] = [
  { files: files(BUGGY), notes: 'first attempt' },
  { files: files(FIXED), notes: 'collapse runs and strip the ends' },
];
