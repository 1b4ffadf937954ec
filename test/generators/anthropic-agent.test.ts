import { afterEach, beforeEach, expect, test } from 'vitest';
import { PTCAgent } from '../../src/agent.js';
import { AnthropicCodeGenerator } from '../../src/generators/anthropic.js';
import { FakeSandboxRunner } from '../../src/testing/fake-runner.js';
import { junitXml } from '../../src/testing/junit-xml.js';
import { FakeAnthropicServer, writeFilesStream } from '../fakes/anthropic-server.js';
import { GOOD_FILES, makePlan } from './fixtures.js';

const API_KEY = 'sk-ant-FAKEKEY-agent-0123456789abcdef';
let server: FakeAnthropicServer;

beforeEach(async () => {
  server = await FakeAnthropicServer.start({ apiKey: API_KEY });
});

afterEach(async () => {
  await server.close();
});

test('PTCAgent drives the generator through a red and a green iteration', async () => {
  server.enqueue(
    { kind: 'stream', events: writeFilesStream(GOOD_FILES, { usage: { input_tokens: 300, output_tokens: 400, cache_creation_input_tokens: 2000 } }) },
    { kind: 'stream', events: writeFilesStream(GOOD_FILES, { usage: { input_tokens: 600, output_tokens: 400, cache_read_input_tokens: 2000 } }) },
  );
  const runner = new FakeSandboxRunner({
    results: [
      { failed: [{ name: 'test_add', message: 'assert -1 == 3' }] },
      // The acceptance test's case carries its module, as pytest reports it: the agent checks it ran.
      { report: junitXml([{ name: 'test_add', suite: 'tests.test_calculator' }, { name: 'test_add_acceptance', suite: 'tests.test_acceptance' }]) },
    ],
  });
  const agent = new PTCAgent({
    generator: new AnthropicCodeGenerator({ apiKey: API_KEY, baseURL: server.url, model: 'claude-sonnet-5' }),
    runner,
  });
  const bundle = await agent.execute(makePlan());

  expect(bundle.status).toBe('success');
  expect(bundle.generator).toBe('anthropic:claude-sonnet-5');
  expect(bundle.iterations).toHaveLength(2);
  expect(bundle.usage).toMatchObject({ inputTokens: 900, outputTokens: 800, cacheCreationInputTokens: 2000, cacheReadInputTokens: 2000, apiCalls: 2 });
  expect(bundle.usage.costUsd).toBeCloseTo((900 * 2 + 800 * 10 + 2000 * 2.5 + 2000 * 0.2) / 1e6, 12);
  expect(server.problems).toEqual([]);
  // The second request carried the failure the runner reported.
  const instructions = server.requests[1]?.body.messages[0].content[1].text as string;
  expect(instructions).toContain('assert -1 == 3');
  expect(JSON.stringify(bundle)).not.toContain(API_KEY);
});

test('plan.candidates: each request says which candidate it writes; the cached plan part is the same for all', async () => {
  server.enqueue({ kind: 'stream', events: writeFilesStream(GOOD_FILES) }, { kind: 'stream', events: writeFilesStream(GOOD_FILES) });
  const runner = new FakeSandboxRunner({
    results: { report: junitXml([{ name: 'test_add', suite: 'tests.test_calculator' }, { name: 'test_add_acceptance', suite: 'tests.test_acceptance' }]) },
  });
  const agent = new PTCAgent({ generator: new AnthropicCodeGenerator({ apiKey: API_KEY, baseURL: server.url, model: 'claude-sonnet-5' }), runner, cache: false });
  const bundle = await agent.execute({ ...makePlan(), candidates: 2 });
  expect(bundle.status).toBe('success');
  expect(server.problems).toEqual([]);
  expect(server.requests).toHaveLength(2);
  const texts = server.requests.map((request) => request.body.messages[0].content[1].text as string);
  expect(texts.map((text) => /Candidate (\d) of 2/.exec(text)?.[1]).sort()).toEqual(['1', '2']);
  expect(server.requests[0]?.body.messages[0].content[0]).toEqual(server.requests[1]?.body.messages[0].content[0]);
  expect(bundle.candidates).toHaveLength(2);
});
