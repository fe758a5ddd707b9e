/**
 * Command-line flags parsed the way Go's `flag` package does, so coredeno
 * takes exactly what `coredns` takes: `-x`, `--x`, `-x=v`, `-x v`, bool
 * flags without a value, parsing stops at the first non-flag or `--`.
 */

export interface FlagSpec {
  /** Names, e.g. `["dns.port", "p"]`: aliases share one value. */
  names: readonly string[];
  kind: "string" | "bool";
  usage: string;
  default?: string;
}

export interface ParsedFlags {
  values: Map<string, string>; // by the first name of each spec
  rest: string[];
}

/** Go's `flag.ErrHelp`: `-h` or `-help` was given. */
export class HelpRequested extends Error {
  constructor() {
    super("flag: help requested");
    this.name = "HelpRequested";
  }
}

/** A flag error, worded as Go's (`flag provided but not defined: -foo`). */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

export function parseGoFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
): ParsedFlags {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    for (const name of spec.names) byName.set(name, spec);
  }
  const values = new Map<string, string>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.length < 2 || arg[0] !== "-") break;
    if (arg === "--") {
      i++;
      break;
    }
    const body = arg.slice(arg[1] === "-" ? 2 : 1);
    if (body === "" || body[0] === "-" || body[0] === "=") {
      throw new FlagError(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = byName.get(name);
    if (spec === undefined) {
      if (name === "h" || name === "help") throw new HelpRequested();
      throw new FlagError(`flag provided but not defined: -${name}`);
    }
    let value: string;
    if (spec.kind === "bool") {
      value = eq < 0 ? "true" : body.slice(eq + 1);
      const parsed = parseBool(value);
      if (parsed === undefined) {
        throw new FlagError(
          `invalid boolean value "${value}" for -${name}: parse error`,
        );
      }
      value = String(parsed);
    } else if (eq >= 0) {
      value = body.slice(eq + 1);
    } else {
      if (i + 1 >= args.length) {
        throw new FlagError(`flag needs an argument: -${name}`);
      }
      value = args[++i]!;
    }
    values.set(spec.names[0]!, value);
  }
  return { values, rest: args.slice(i) };
}

/** Go's `strconv.ParseBool`. */
function parseBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

/** Go's `flag.PrintDefaults` layout. */
export function usage(program: string, specs: readonly FlagSpec[]): string {
  const lines = [`Usage of ${program}:`];
  const entries = specs.flatMap((spec) =>
    spec.names.map((name) => ({ name, spec }))
  )
    .sort((a, b) => a.name < b.name ? -1 : 1);
  for (const { name, spec } of entries) {
    const type = spec.kind === "string" ? " string" : "";
    const fallback = spec.default
      ? ` (default ${JSON.stringify(spec.default)})`
      : "";
    lines.push(`  -${name}${type}`, `    \t${spec.usage}${fallback}`);
  }
  return lines.join("\n") + "\n";
}
