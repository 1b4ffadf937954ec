/**
 * What a full HumanEval run with the default Claude model costs, estimated from the prompts the
 * real `AnthropicCodeGenerator` sends — without an API key and without calling any model.
 *
 * How: the eval harness runs all 164 problems with the real generator (real SDK, real prompt
 * builders, real pricing code) against the loopback fake of the Messages API in test/fakes, and the
 * real local runner. The fake answers every request with a stand-in for a model's answer and
 * reports token counts computed from the request and the answer by a fixed characters-per-token
 * ratio (there is no offline tokenizer for current Claude models). Two scenarios:
 *  - first-try: every problem is solved in iteration 1 (one request per problem);
 *  - repair: every problem needs a second iteration (iteration 1 misnames the function, the
 *    stand-in test catches it, iteration 2's prompt quotes the real pytest failure).
 * The stand-in answer is the canonical solution plus, as the model's own tests, a pytest file as
 * large as the HumanEval check (a real model's tests are of that order; thinking tokens, if the
 * model thinks, are not counted).
 *
 *   npx tsx bench/eval-cost.ts [charsPerToken=4] [problems=164]
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LocalSandboxRunner } from '../src/index.js';
import { AnthropicCodeGenerator, DEFAULT_ANTHROPIC_MODEL, DEFAULT_ANTHROPIC_PRICING } from '../src/generators/anthropic.js';
import { loadSuite, runEval, type EvalProblem, type Suite } from '../src/eval/index.js';
import { FakeAnthropicServer, writeFilesStream, type RecordedRequest } from '../test/fakes/anthropic-server.js';

const HUMANEVAL = fileURLToPath(new URL('../../shared/data/humaneval/HumanEval.jsonl.gz', import.meta.url));
if (!existsSync(HUMANEVAL)) {
  console.error(`needs HumanEval at ${HUMANEVAL}`);
  process.exit(1);
}
const charsPerToken = Number(process.argv[2] ?? 4);
const full = await loadSuite(HUMANEVAL);
const suite: Suite = { ...full, problems: full.problems.slice(0, Number(process.argv[3] ?? full.problems.length)) };
const price = DEFAULT_ANTHROPIC_PRICING[DEFAULT_ANTHROPIC_MODEL]!;

const textOf = (request: RecordedRequest): string => {
  const body = request.body as { system: Array<{ text: string }>; tools: unknown[]; messages: Array<{ content: Array<{ text?: string }> }> };
  return [
    ...body.system.map((block) => block.text),
    JSON.stringify(body.tools),
    ...body.messages.flatMap((message) => message.content.map((block) => block.text ?? '')),
  ].join('\n');
};

function ownTests(problem: EvalProblem): string {
  // The HumanEval check, importing from solution.py: a test file of realistic size.
  return problem.test.replace('def test_check():', 'def test_examples():');
}

function answer(problem: EvalProblem, broken: boolean) {
  const reference = problem.reference!;
  const solution = broken ? reference.replace(new RegExp(`def ${problem.entryPoint}\\(`), `def ${problem.entryPoint}_draft(`) : reference;
  return {
    files: [
      { path: 'solution.py', content: solution, kind: 'source' },
      { path: 'tests/test_own.py', content: ownTests(problem), kind: 'test' },
    ],
    notes: broken ? 'First version.' : 'Renamed the function to the required name.',
  };
}

interface Measured {
  inputChars: number;
  outputChars: number;
  requests: number;
}

async function scenario(name: 'first-try' | 'repair'): Promise<Measured> {
  const server = await FakeAnthropicServer.start({ apiKey: 'sk-ant-estimate' });
  const measured: Measured = { inputChars: 0, outputChars: 0, requests: 0 };
  const reply = (request: RecordedRequest) => {
    const text = textOf(request);
    const problem = suite.problems.find((candidate) => text.includes(candidate.prompt.trimEnd()));
    if (!problem) throw new Error('a request for no known problem');
    const input = answer(problem, name === 'repair' && !text.includes('fix the previous attempt'));
    const inputChars = text.length;
    const outputChars = JSON.stringify(input).length;
    measured.inputChars += inputChars;
    measured.outputChars += outputChars;
    measured.requests += 1;
    return {
      kind: 'stream' as const,
      events: writeFilesStream(input, {
        model: DEFAULT_ANTHROPIC_MODEL,
        usage: { input_tokens: Math.ceil(inputChars / charsPerToken), output_tokens: Math.ceil(outputChars / charsPerToken) },
        chunkSize: 4_096,
      }),
    };
  };
  server.enqueue(...Array.from({ length: suite.problems.length * 3 }, () => reply));
  try {
    const generator = new AnthropicCodeGenerator({ apiKey: 'sk-ant-estimate', baseURL: server.url, maxRetries: 0 });
    const report = await runEval({
      suite,
      generator,
      runner: new LocalSandboxRunner({ onWarning: () => {} }),
      concurrency: 2,
      agentOptions: { sandboxEnv: { PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' } },
    });
    if (server.problems.length > 0) throw new Error(`the generator sent requests the fake refused: ${server.problems.slice(0, 3).join('; ')}`);
    const { summary } = report;
    console.log(
      `${name}: ${measured.requests} requests for ${summary.evaluated} problems, held-out ${summary.heldOutPassed}/${summary.evaluated}, mean iterations to green ${summary.meanIterationsToGreen?.toFixed(2)}; ` +
        `through the generator's pricing: ${summary.totalTokens} tokens, $${summary.costUsd?.toFixed(4)} ($${summary.costUsdPerTask?.toFixed(5)} per task)`,
    );
  } finally {
    await server.close();
  }
  return measured;
}

const rows: Array<[string, Measured]> = [];
for (const name of ['first-try', 'repair'] as const) rows.push([name, await scenario(name)]);
console.log(`\n${DEFAULT_ANTHROPIC_MODEL}: $${price.inputUsdPerMillionTokens}/M input, $${price.outputUsdPerMillionTokens}/M output (DEFAULT_ANTHROPIC_PRICING); prompt caching ignored (all input at the base price)`);
console.log('scenario   | requests | input chars | output chars | chars/token | input tokens | output tokens | USD for the suite | USD per problem');
for (const [name, measured] of rows) {
  for (const ratio of [4, 3]) {
    const input = measured.inputChars / ratio;
    const output = measured.outputChars / ratio;
    const usd = (input * price.inputUsdPerMillionTokens + output * price.outputUsdPerMillionTokens) / 1e6;
    console.log(
      `${name.padEnd(10)} | ${String(measured.requests).padStart(8)} | ${String(measured.inputChars).padStart(11)} | ${String(measured.outputChars).padStart(12)} | ${String(ratio).padStart(11)} | ${input.toFixed(0).padStart(12)} | ${output.toFixed(0).padStart(13)} | ${usd.toFixed(2).padStart(17)} | ${(usd / suite.problems.length).toFixed(4)}`,
    );
  }
}
