/**
 * The `test` function of your framework (vitest's `test`, `it`, node:test's `test`): the suites
 * only register cases through it, so they run under any runner that has this shape.
 */
export type ConformanceTestFunction = (name: string, body: () => Promise<void>, timeoutMs?: number) => unknown;
