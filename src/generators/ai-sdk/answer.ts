import { answerProblems, readWriteFilesInputs, type WriteFilesAnswer } from '../write-files.js';

/** What a streamed call left to read: its `write_files` inputs, its text, how it finished. */
export interface StreamedAnswer {
  inputs: unknown[];
  texts: string[];
  /** Why the first `write_files` call the SDK could not parse was refused. */
  invalidToolInput: string | undefined;
  finishReason: string | undefined;
}

/** Turns a finished call into files, or a problem stated for the model. */
export function readAnswer(answer: StreamedAnswer, maxOutputTokens: number | undefined): WriteFilesAnswer {
  const { finishReason, inputs, invalidToolInput, texts } = answer;
  if (finishReason === 'length') {
    // Never salvage a truncated tool call: it would hand back plausible but incomplete files.
    const limit = maxOutputTokens !== undefined ? `the output limit of ${maxOutputTokens} tokens` : "the model's output limit";
    return { ok: false, problem: answerProblems.truncated(limit) };
  }
  if (finishReason === 'content-filter') return { ok: false, problem: answerProblems.refusal('finish reason "content-filter"') };
  if (inputs.length === 0) {
    if (invalidToolInput !== undefined) return { ok: false, problem: answerProblems.invalidJson(invalidToolInput) };
    // Some servers ignore a forced tool choice and answer in text; ai 6 reports no error for it.
    return { ok: false, problem: answerProblems.noToolCall(texts.join('')) };
  }
  return readWriteFilesInputs(inputs);
}

export function describeInvalidInput(error: unknown): string {
  // InvalidToolInputError's message repeats the whole input; its cause says what is wrong.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}
