/**
 * A benchmark's headline figure, printed as one machine-readable line that `npm run bench`
 * (bench/all.ts) gathers into its table. The human-readable output stays as each bench prints it.
 */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** e.g. `<= 1.2`; absent for figures that are reported, not judged. */
  goal?: string;
}

export function reportResult(result: BenchResult): void {
  const met = result.goal === undefined ? undefined : meets(result.value, result.goal);
  console.log(`BENCH ${JSON.stringify({ ...result, met })}`);
}

function meets(value: number, goal: string): boolean {
  const match = /^(<=|>=)\s*([\d.]+)$/.exec(goal.trim());
  if (!match) throw new Error(`unreadable goal ${goal}`);
  const bound = Number(match[2]);
  return match[1] === '<=' ? value <= bound : value >= bound;
}
