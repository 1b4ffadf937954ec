import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AnthropicCodeGenerator } from '../../src/generators/anthropic.js';
import { codeGeneratorConformance } from '../../src/testing/index.js';
import { FakeAnthropicServer, writeFilesStream } from '../fakes/anthropic-server.js';
import { GOOD_FILES } from './fixtures.js';

const API_KEY = 'sk-ant-FAKEKEY-conformance-0123456789';
const MODEL = 'claude-sonnet-5';
let server: FakeAnthropicServer;

beforeAll(async () => {
  server = await FakeAnthropicServer.start({ apiKey: API_KEY });
  // Enough good answers for every case of the suite; the aborted case sends no request.
  for (let index = 0; index < 10; index += 1) server.enqueue({ kind: 'stream', events: writeFilesStream(GOOD_FILES, { model: MODEL }) });
});
afterAll(async () => {
  expect(server.problems).toEqual([]);
  await server.close();
});

describe('AnthropicCodeGenerator against the fake Messages API', () => {
  codeGeneratorConformance(test, () => new AnthropicCodeGenerator({ apiKey: API_KEY, baseURL: server.url, model: MODEL }));
});
