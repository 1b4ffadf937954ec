/**
 * npm run demo — the main job, offline, on the embedded defaults.
 *
 * The generator is SCRIPTED (no model is called): its first attempt has a bug, its second fixes
 * it. Everything else is real: the local sandbox runner runs real pytest twice, in a jail where
 * bubblewrap exists, and the files of the green iteration are written to ./output/.
 */
import { resolve } from 'node:path';
import { PTCAgent, writeBundle } from '../src/index.js';
import { LocalSandboxRunner } from '../src/runners/local.js';
import { ScriptedCodeGenerator } from '../src/testing/index.js';

const TESTS = `from slug import slugify


def test_lowercases_and_dashes_spaces():
    assert slugify("Hello World") == "hello-world"


def test_punctuation_collapses_to_one_dash():
    assert slugify("Hello,   World!!") == "hello-world"


def test_no_leading_or_trailing_dashes():
    assert slugify("  --Prompt Test Code--  ") == "prompt-test-code"


def test_empty():
    assert slugify("") == ""
`;

const BUGGY = `import re


def slugify(text: str) -> str:
    """Lowercase, and turn every non-alphanumeric character into a dash."""
    return re.sub(r"[^a-z0-9]", "-", text.lower())
`;

const FIXED = `import re


def slugify(text: str) -> str:
    """Lowercase; runs of non-alphanumeric characters become one dash; no dashes at the ends."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
`;

const generator = new ScriptedCodeGenerator(
  [
    { files: [{ path: 'slug.py', content: BUGGY }, { path: 'tests/test_slug.py', content: TESTS, kind: 'test' }], notes: 'first attempt' },
    { files: [{ path: 'slug.py', content: FIXED }, { path: 'tests/test_slug.py', content: TESTS, kind: 'test' }], notes: 'collapse runs and strip the ends' },
  ],
  { id: 'scripted-demo', latencyMs: 150 },
);
const runner = new LocalSandboxRunner({ onWarning: (message) => console.log(`  ! ${message}`) });
const agent = new PTCAgent({ generator, runner });

const started = Date.now();
const at = () => `${String(Date.now() - started).padStart(5)} ms`;
console.log('ptc-agent demo — generator: SCRIPTED (a buggy attempt, then a fix; no model is called)');
console.log(`runner: local (isolation: ${await runner.effectiveIsolation()}), tests: real pytest\n`);
agent.on('sandbox:ready', (event) => console.log(`${at()}  sandbox ready (${event.sandboxId.slice(0, 24)}) in ${event.durationMs.toFixed(0)} ms, opened while the model wrote`));
agent.on('generation:start', (event) => console.log(`${at()}  iteration ${event.iteration}: generating…`));
agent.on('generation:end', (event) => console.log(`${at()}  iteration ${event.iteration}: ${event.files} files written by the scripted generator`));
agent.on('tests:start', (event) => console.log(`${at()}  iteration ${event.iteration}: running ${event.command}`));
agent.on('tests:end', (event) =>
  console.log(`${at()}  iteration ${event.iteration}: ${event.passed} passed, ${event.failed} failed, ${event.errored} errored ${event.success ? '✔ green' : '✖ red'} (${event.durationMs.toFixed(0)} ms)`),
);
agent.on('warning', (event) => console.log(`${at()}  warning: ${event.message}`));

const bundle = await agent.execute({
  taskDescription: 'A slugify(text) function in slug.py',
  requirements: ['lowercase', 'runs of spaces and punctuation become one dash', 'no leading or trailing dashes'],
  language: 'python',
  maxIterations: 3,
});

for (const record of bundle.iterations) {
  const failing = record.testReport?.cases.filter((testCase) => testCase.status === 'failed' || testCase.status === 'errored') ?? [];
  for (const testCase of failing) console.log(`\n  iteration ${record.iteration} failed ${testCase.name}:\n    ${(testCase.message ?? '').split('\n').slice(0, 3).join('\n    ')}`);
}
const output = resolve('output');
const { written } = await writeBundle(bundle, output, { overwrite: true });
console.log(`\nstatus: ${bundle.status} (${bundle.stopReason}) after ${bundle.iterations.length} iterations; best iteration ${bundle.bestIteration}`);
console.log(`tests: ${bundle.testReport?.passed ?? 0} passed, ${bundle.testReport?.failed ?? 0} failed — ${bundle.testReport?.command ?? 'no test run'}`);
console.log(`time: ${bundle.timings.totalMs.toFixed(0)} ms total, ${bundle.timings.generationMs.toFixed(0)} ms generating, ${bundle.timings.testMs.toFixed(0)} ms testing, sandbox open ${bundle.timings.sandboxOpenMs.toFixed(0)} ms (in parallel)`);
console.log(`files written under ${output}:`);
for (const path of written) console.log(`  ${path}`);
if (bundle.status !== 'success') process.exitCode = 1;
