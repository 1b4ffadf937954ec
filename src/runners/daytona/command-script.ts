/**
 * Shell scripts the Daytona session sends through `process.executeCommand`, and the parser of
 * what comes back.
 *
 * Why a script: `executeCommand` merges stdout and stderr into one `result` string and runs a
 * command line, not argv. So every command runs as `sh -c '<script>'` where the script runs the
 * argv (each word single-quoted, started with `exec`, no shell interpretation of its own) with
 * stdout and stderr redirected to two files in the sandbox, then prints both files back inside a
 * frame of markers carrying a per-command random nonce, with the exit code and the byte sizes.
 * The merged `result` then holds only what the script printed, in an order we control: stdout and
 * stderr come back apart in the same round trip, with no second call to download them. Outputs
 * over the cap are cut in the sandbox (`head -c` + `tail -c`), so neither the daemon's answer nor
 * our memory grows with a runaway test. The files stay in the sandbox, so the output of a command
 * the daemon killed for its timeout can still be read back with a second, capped command.
 * A script too long for one exec argument (MAX_INLINE_COMMAND_BYTES) is uploaded as a file beside
 * the output files and run with `sh '<file>'` instead.
 */

/** Single-quotes one word for POSIX sh. */
export function shellQuote(word: string): string {
  if (word.includes('\u0000')) throw new TypeError('a command word contains a NUL character');
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export interface CommandScriptOptions {
  /** Sandbox-relative directory the command runs in (normalised, safe). */
  workspaceDir: string;
  /** Sandbox-relative directory for the captured output files. */
  outputDir: string;
  /** Distinguishes the output files of the commands of one session. */
  sequence: number;
  /** Random marker prefix; output never contains it by accident. */
  nonce: string;
  /**
   * A deferred `sync`: before the command runs, the workspace is emptied (all but `keep`) and
   * the staged files (uploaded to this sandbox-relative directory) moved in. `stageDir`
   * undefined: the synced set was empty.
   */
  sync?: { stageDir: string | undefined; keep: readonly string[] };
  /** Kept of each stream, in bytes; the rest is cut from the middle. */
  maxOutputBytes: number;
}

function emitFunction(maxOutputBytes: number): string {
  const head = Math.floor(maxOutputBytes / 3);
  const tail = maxOutputBytes - head;
  return [
    'ptc_emit() {',
    '  s=$(wc -c 2>/dev/null <"$1") || s=0',
    '  s=$((s + 0))',
    `  if [ "$s" -le ${maxOutputBytes} ]; then cat "$1" 2>/dev/null`,
    `  else head -c ${head} "$1"; printf '\\n%s:cut\\n' "$ptc_n"; tail -c ${tail} "$1"; fi`,
    '}',
  ].join('\n');
}

function frame(exitCodeExpression: string): string {
  return [
    'ptc_so=$(wc -c 2>/dev/null <"$ptc_o") || ptc_so=0',
    'ptc_se=$(wc -c 2>/dev/null <"$ptc_e") || ptc_se=0',
    `printf '\\n%s:status %s %s %s\\n' "$ptc_n" "${exitCodeExpression}" $((ptc_so + 0)) $((ptc_se + 0))`,
    `printf '%s:stdout\\n' "$ptc_n"`,
    'ptc_emit "$ptc_o"',
    `printf '\\n%s:stderr\\n' "$ptc_n"`,
    'ptc_emit "$ptc_e"',
    `printf '\\n%s:end\\n' "$ptc_n"`,
  ].join('\n');
}

function prelude(options: Pick<CommandScriptOptions, 'outputDir' | 'sequence' | 'nonce' | 'maxOutputBytes' | 'workspaceDir'>): string {
  return [
    `ptc_n=${shellQuote(options.nonce)}`,
    `ptc_w=${shellQuote(options.workspaceDir)}`,
    `ptc_d=${shellQuote(options.outputDir)}`,
    `ptc_o="$ptc_d/${options.sequence}.stdout"`,
    `ptc_e="$ptc_d/${options.sequence}.stderr"`,
    emitFunction(options.maxOutputBytes),
  ].join('\n');
}

/** The script that runs `argv` in the workspace and frames its result. */
export function buildCommandScript(argv: readonly string[], options: CommandScriptOptions): string {
  if (argv.length === 0) throw new TypeError('the command is empty');
  return [
    prelude(options),
    'mkdir -p "$ptc_w" "$ptc_d" || exit 125',
    ...(options.sync ? [syncScript(options.sync)] : []),
    `( cd "$ptc_w" || exit 125; exec ${argv.map(shellQuote).join(' ')} ) >"$ptc_o" 2>"$ptc_e" </dev/null`,
    'ptc_c=$?',
    frame('$ptc_c'),
  ].join('\n');
}

/**
 * Empties the workspace but for what the runner keeps (installed node_modules), then moves the
 * staged files in. A failure here exits 125 (framed as a sandbox failure), never runs the tests
 * on a half-synced tree.
 */
function syncScript(sync: { stageDir: string | undefined; keep: readonly string[] }): string {
  const keep = sync.keep.map((name) => `! -name ${shellQuote(name)}`).join(' ');
  const lines = [
    // A test may have replaced the workspace with a symbolic link (find would not enter it and cp
    // would write through it) or locked a directory (chmod 000, which rm cannot enter).
    'if [ -L "$ptc_w" ]; then rm -f "$ptc_w" && mkdir -p "$ptc_w" || exit 125; fi',
    'chmod -R u+rwX "$ptc_w" 2>/dev/null',
    `find "$ptc_w" -mindepth 1 -maxdepth 1 ${keep} -exec rm -rf {} + || exit 125`,
  ];
  if (sync.stageDir !== undefined) {
    lines.push(`ptc_s=${shellQuote(sync.stageDir)}`, 'cp -a "$ptc_s/." "$ptc_w/" || exit 125');
  }
  // This stage and any a later sync replaced before a command ran.
  lines.push(`find "$ptc_d" -mindepth 1 -maxdepth 1 -name 'sync-*' -exec rm -rf {} + 2>/dev/null`);
  return lines.join('\n');
}

/** Prints back, capped, what an earlier command (e.g. one killed by the daemon) left in its output files. */
export function buildReadbackScript(options: Omit<CommandScriptOptions, 'sync'>): string {
  return [prelude(options), frame('-1')].join('\n');
}

/**
 * Longest command line sent inline, in UTF-8 bytes. The daemon hands the command line to a shell as
 * one argument, and Linux refuses any single exec argument over 128 KiB (MAX_ARG_STRLEN, E2BIG);
 * half of that leaves room for whatever the daemon wraps around it.
 */
export const MAX_INLINE_COMMAND_BYTES = 64 * 1024;

/** The command line handed to `executeCommand`. */
export function wrapScript(script: string): string {
  return `sh -c ${shellQuote(script)}`;
}

/**
 * Whether `script` must go through a file: a node preset appends every test path and the pending
 * sync rides along, so a script can outgrow one exec argument (see MAX_INLINE_COMMAND_BYTES).
 */
export function needsScriptFile(script: string): boolean {
  return Buffer.byteLength(wrapScript(script), 'utf8') > MAX_INLINE_COMMAND_BYTES;
}

/** Sandbox-relative path of the script file of command `sequence` (beside its output files). */
export function scriptFilePath(outputDir: string, sequence: number): string {
  return `${outputDir}/${sequence}.sh`;
}

/** The command line that runs a script uploaded to `path` (sandbox-relative, read from the work directory). */
export function wrapScriptFile(path: string): string {
  return `sh ${shellQuote(path)}`;
}

export interface FramedOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/**
 * Parses a framed result; `undefined` when the frame is missing or broken (the script never ran
 * to its end, e.g. the shell itself failed).
 */
export function parseFramedOutput(result: string, nonce: string, maxOutputBytes: number): FramedOutput | undefined {
  const statusMarker = `\n${nonce}:status `;
  const statusAt = result.indexOf(statusMarker);
  if (statusAt === -1) return undefined;
  const lineEnd = result.indexOf('\n', statusAt + statusMarker.length);
  if (lineEnd === -1) return undefined;
  const fields = result.slice(statusAt + statusMarker.length, lineEnd).trim().split(/\s+/);
  if (fields.length !== 3) return undefined;
  const [exitCode, stdoutBytes, stderrBytes] = fields.map((field) => Number.parseInt(field, 10)) as [number, number, number];
  if (![exitCode, stdoutBytes, stderrBytes].every(Number.isFinite)) return undefined;
  const stdoutMarker = `${nonce}:stdout\n`;
  if (!result.startsWith(stdoutMarker, lineEnd + 1)) return undefined;
  const stdoutStart = lineEnd + 1 + stdoutMarker.length;
  const stderrMarker = `\n${nonce}:stderr\n`;
  const stderrAt = result.indexOf(stderrMarker, stdoutStart);
  const endAt = result.lastIndexOf(`\n${nonce}:end\n`);
  if (stderrAt === -1 || endAt === -1 || endAt < stderrAt) return undefined;
  const uncut = (text: string, bytes: number) =>
    text.replace(`\n${nonce}:cut\n`, `\n… [${Math.max(0, bytes - maxOutputBytes)} bytes omitted] …\n`);
  return {
    exitCode,
    stdout: uncut(result.slice(stdoutStart, stderrAt), stdoutBytes),
    stderr: uncut(result.slice(stderrAt + stderrMarker.length, endAt), stderrBytes),
    stdoutBytes,
    stderrBytes,
    stdoutTruncated: stdoutBytes > maxOutputBytes,
    stderrTruncated: stderrBytes > maxOutputBytes,
  };
}
