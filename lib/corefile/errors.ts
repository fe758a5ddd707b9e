/**
 * A Corefile problem. `message` is CoreDNS's exact text, for example
 * `Corefile:3 - Error during parsing: Unknown directive 'foo'`, so users can
 * search CoreDNS documentation and issues for it.
 */
export class CorefileError extends SyntaxError {
  /** File the problem is in: the main file name as given, an absolute path for imported files, or "" when unknown. */
  readonly file: string;
  /** 1-based line of the offending token, or 0 when no token applies. */
  readonly line: number;

  constructor(message: string, file = "", line = 0) {
    super(message);
    this.name = "CorefileError";
    this.file = file;
    this.line = line;
  }
}

/** caddy's `Err`: `FILE:LINE - Error during parsing: MSG`. */
export function parseError(
  file: string,
  line: number,
  msg: string,
): CorefileError {
  return new CorefileError(
    `${file}:${line} - Error during parsing: ${msg}`,
    file,
    line,
  );
}

/** caddy's `SyntaxErr`: `FILE:LINE - Syntax error: Unexpected token 'VAL', expecting 'EXP'`. */
export function syntaxError(
  file: string,
  line: number,
  val: string,
  expected: string,
): CorefileError {
  return new CorefileError(
    `${file}:${line} - Syntax error: Unexpected token '${val}', expecting '${expected}'`,
    file,
    line,
  );
}

/** caddy's `ArgErr`, after the token `val`. */
export function argError(
  file: string,
  line: number,
  val: string,
): CorefileError {
  return parseError(
    file,
    line,
    val === "{"
      ? "Unexpected token '{', expecting argument"
      : `Wrong argument count or unexpected line ending after '${val}'`,
  );
}
