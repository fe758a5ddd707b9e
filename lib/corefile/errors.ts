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
