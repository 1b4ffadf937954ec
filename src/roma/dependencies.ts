/**
 * ROMA's `ScaffoldingSpec.dependencies` is free text ("libraries, frameworks, or services"): its
 * planner writes `numpy >= 1.26`, `Pillow (>=9)`, `pywin32; sys_platform == "win32"` or
 * `PostgreSQL database`. Our plan takes package specs only, handed to pip as one argument each.
 * This turns what ROMA writes into specs, leaves out what is not installable (with a warning),
 * and refuses only what could reach a shell or become an installer option.
 */

/** Why an entry was refused; the caller reports it as a 422 on the entry's path. */
export interface RefusedDependency {
  index: number;
  message: string;
}

export interface NormalisedDependencies {
  /** Package specs in the order ROMA wrote them (blank entries dropped). */
  dependencies: string[];
  /** One line per entry changed or left out, fit for `PTCArtifactResult.warnings`. */
  warnings: string[];
  /** Entries that must not reach an installer: the plan is refused. */
  refused: RefusedDependency[];
}

/** PEP 508 names: letters and digits, `.`, `_`, `-` inside. */
const NAME = String.raw`[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?`;
const EXTRAS = String.raw`\[\s*(?:${NAME}(?:\s*,\s*${NAME})*)?\s*\]`;
const OPERATOR = String.raw`(?:===|~=|==|!=|<=|>=|<|>)`;
/** PEP 440 versions, with `*` for `==1.26.*`, `!` epochs and `+` local labels. */
const VERSION = String.raw`[A-Za-z0-9*+!_.-]+`;
const CLAUSE = String.raw`${OPERATOR}\s*${VERSION}`;
const CLAUSES = String.raw`${CLAUSE}(?:\s*,\s*${CLAUSE})*`;
/** `name [extras] spec` or `name [extras] (spec)`, any spacing; groups: name, extras, spec. */
const REQUIREMENT = new RegExp(String.raw`^(${NAME})\s*(${EXTRAS})?\s*(?:\(\s*(${CLAUSES})\s*\)|(${CLAUSES}))?$`);

/** PEP 508 environment markers: `variable op "literal"`, joined by and/or, with parentheses. */
const MARKER_VARIABLE =
  'python_version|python_full_version|os_name|sys_platform|platform_release|platform_system|platform_version|platform_machine|platform_python_implementation|implementation_name|implementation_version|extra';
const MARKER_LITERAL = String.raw`(?:"[^"\\\`$;|&]*"|'[^'\\\`$;|&]*')`;
const MARKER_TERM = String.raw`(?:(?:${MARKER_VARIABLE})\s*(?:===|~=|==|!=|<=|>=|<|>|not\s+in|in)\s*${MARKER_LITERAL}|${MARKER_LITERAL}\s*(?:===|~=|==|!=|<=|>=|<|>|not\s+in|in)\s*(?:${MARKER_VARIABLE}))`;
const MARKER_TOKEN = new RegExp(String.raw`^\s*(?:\(|\)|and\b|or\b|${MARKER_TERM})`);

/**
 * Characters that run commands or chain them in a shell. No dependency reaches a shell here, but
 * an entry carrying them is an injection attempt or a broken plan, and the caller must see it
 * rather than have it quietly left out. `;` is allowed only before a PEP 508 marker.
 */
const SHELL_CHARACTERS = /[`$;|&\\]/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** What the core's plan accepts (kept in step with `DependencySchema`): used for npm specs, URLs and the like. */
const PLAIN_SPEC = /^[A-Za-z0-9@_][A-Za-z0-9._\-/@[\],<>=!~^*+:]*$/;

/** Names that are the interpreter or a toolchain, never a pip package. */
const NOT_PACKAGES = new Set(['python', 'python3', 'pip', 'pip3', 'node', 'nodejs', 'npm']);

const MAX_SHOWN = 80;

/** An entry as a warning shows it: control characters escaped, long ones cut. */
function shown(entry: string): string {
  const escaped = JSON.stringify(entry.length > MAX_SHOWN ? `${entry.slice(0, MAX_SHOWN)}…` : entry);
  return escaped.replace(/[\u0085\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isMarker(text: string): boolean {
  let rest = text.trim();
  if (rest === '') return false;
  let depth = 0;
  while (rest !== '') {
    const match = MARKER_TOKEN.exec(rest);
    if (!match) return false;
    if (match[0].trim() === '(') depth += 1;
    if (match[0].trim() === ')') depth -= 1;
    if (depth < 0) return false;
    rest = rest.slice(match[0].length).trimStart();
  }
  return depth === 0;
}

/** `spec ; marker` → `[spec, marker]` when the part after the first `;` parses as a marker. */
function splitMarker(entry: string): [string, string | undefined] {
  const separator = entry.indexOf(';');
  if (separator === -1) return [entry, undefined];
  const marker = entry.slice(separator + 1);
  return isMarker(marker) ? [entry.slice(0, separator).trim(), marker.trim()] : [entry, undefined];
}

/** Why an entry must be refused, or undefined. */
function dangerOf(entry: string): string | undefined {
  if (CONTROL.test(entry)) return 'must be a package spec, without control characters';
  if (entry.startsWith('-')) return 'must be a package spec, not an installer option (it starts with "-")';
  if (/^[./~]/.test(entry)) return 'must be a package spec, not a local path (pip would build and run it)';
  return undefined;
}

/**
 * ROMA's dependency entries as package specs.
 *
 * - `numpy >= 1.26` → `numpy>=1.26`; `Pillow (>=9)` → `Pillow>=9`; `requests [socks] >=2, <3` →
 *   `requests[socks]>=2,<3`.
 * - `pkg ; marker` (a PEP 508 environment marker) → `pkg` with a warning: the sandbox installs it
 *   unconditionally.
 * - Entries that are not package specs (`PostgreSQL database`, `Python 3.12`, prose) are left out
 *   with a warning: ROMA accepts them, and one descriptive entry must not sink the plan.
 * - Refused: a leading `-` (`-e .`), a local path, control characters, and shell characters
 *   (`;` outside a marker, backticks, `$`, `|`, `&`, quotes, …) anywhere outside a marker.
 * - Entries that already look like specs without being PEP 508 (`lodash@^4`, `@scope/pkg`) pass
 *   unchanged: the plan's own rules still apply to them.
 */
export function normaliseRomaDependencies(entries: readonly string[]): NormalisedDependencies {
  const dependencies: string[] = [];
  const warnings: string[] = [];
  const refused: RefusedDependency[] = [];
  entries.forEach((raw, index) => {
    const entry = raw.trim();
    if (entry === '') return;
    const danger = dangerOf(entry);
    if (danger) {
      refused.push({ index, message: danger });
      return;
    }
    const [spec, marker] = splitMarker(entry);
    const requirement = REQUIREMENT.exec(spec);
    if (requirement) {
      const [, name = '', extras, parenthesised, bare] = requirement;
      if (NOT_PACKAGES.has(name.toLowerCase())) {
        warnings.push(`Dependency ${shown(entry)} left out: ${name} is not a package the sandbox installs.`);
        return;
      }
      const normalised = `${name}${extras ? extras.replace(/\s+/g, '') : ''}${(parenthesised ?? bare ?? '').replace(/\s+/g, '')}`;
      dependencies.push(normalised);
      if (marker !== undefined) {
        warnings.push(`Dependency ${shown(entry)}: environment marker dropped, "${normalised}" is installed unconditionally.`);
      }
      return;
    }
    if (marker === undefined && PLAIN_SPEC.test(entry)) {
      dependencies.push(entry);
      return;
    }
    // Text with characters a shell acts on is refused rather than left out: it is either an
    // attempt at injection or a mistake the caller must see.
    if (SHELL_CHARACTERS.test(entry)) {
      refused.push({ index, message: 'must be a package spec such as "numpy>=1.26"; shell characters are not allowed' });
      return;
    }
    warnings.push(`Dependency ${shown(entry)} left out: not an installable package spec (a service or a description?).`);
  });
  return { dependencies, warnings, refused };
}
