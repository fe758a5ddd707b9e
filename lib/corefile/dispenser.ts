/**
 * caddy's Dispenser: the cursor plugin setup code reads one directive's
 * tokens with (corefile.md §2.7).
 *
 * @module
 */

import {
  argError,
  type CorefileError,
  parseError,
  syntaxError,
} from "./errors.ts";
import { newlines, type Token } from "./lexer.ts";

/**
 * A cursor over ONE directive's tokens in one server block, positioned
 * before the first token. Line logic matches caddy: a token is on the same
 * line when its file matches and it starts on the line where the previous
 * token (including any newlines inside it) ends.
 *
 * Consequences plugin code inherits from CoreDNS:
 * - `pprof { block }` on one line: `block` gets `}` as its argument.
 * - `pprof` with `{` on the next line: nextBlock() does not open it (the
 *   brace must be on the directive's line), so the `{` is seen by next().
 * - `pprof { }`: nextBlock() returns false (an empty block counts as absent)
 *   and leaves the cursor on the `}`.
 *
 * @example Usage
 * ```ts
 * import { Dispenser } from "./dispenser.ts";
 * const d = new Dispenser("Corefile", [
 *   { file: "Corefile", line: 2, text: "pprof" },
 *   { file: "Corefile", line: 2, text: ":6060" },
 * ]);
 * d.next();
 * if (d.remainingArgs()[0] !== ":6060") throw new Error("unexpected");
 * ```
 */
export class Dispenser {
  readonly #filename: string;
  readonly #tokens: Token[];
  #cursor = -1;
  #nesting = 0;

  /**
   * @param filename the Corefile path, used when a token has no file
   * @param tokens the directive's tokens (ServerBlock.tokens.get(name))
   */
  constructor(filename: string, tokens: Token[]) {
    this.#filename = filename;
    this.#tokens = tokens;
  }

  /** Advances to the next token, whatever line it is on; false at the end. */
  next(): boolean {
    if (this.#cursor < this.#tokens.length - 1) {
      this.#cursor++;
      return true;
    }
    return false;
  }

  /** Advances only if the next token is on the same line (the first call always loads a token). */
  nextArg(): boolean {
    if (this.#cursor < 0) {
      this.#cursor++;
      return true;
    }
    if (this.#cursor >= this.#tokens.length) return false;
    if (this.#cursor < this.#tokens.length - 1 && this.#sameLineAsNext()) {
      this.#cursor++;
      return true;
    }
    return false;
  }

  /** Advances only if the next token is on a different line (the first call always loads a token). */
  nextLine(): boolean {
    if (this.#cursor < 0) {
      this.#cursor++;
      return true;
    }
    if (this.#cursor >= this.#tokens.length) return false;
    if (this.#cursor < this.#tokens.length - 1 && !this.#sameLineAsNext()) {
      this.#cursor++;
      return true;
    }
    return false;
  }

  #sameLineAsNext(): boolean {
    const cur = this.#tokens[this.#cursor]!;
    const nxt = this.#tokens[this.#cursor + 1]!;
    return cur.file === nxt.file && cur.line + newlines(cur.text) === nxt.line;
  }

  /**
   * Steps through a `{ … }` block one level deep. Outside a block it enters
   * one only if `{` is the next token on the same line and the block is not
   * empty; inside, it advances and returns false at the closing `}`.
   * Use as `while (d.nextBlock()) { … d.val() … }`.
   */
  nextBlock(): boolean {
    if (this.#nesting > 0) {
      // Unlike caddy's original loop, stop at the end of an unclosed block.
      if (!this.next()) return false;
      if (this.val() === "}") {
        this.#nesting--;
        return false;
      }
      return true;
    }
    if (!this.nextArg()) return false; // a block must open on the same line
    if (this.val() !== "{") {
      this.#cursor--; // not a block: give the token back
      return false;
    }
    this.next();
    // Opened and closed right away: as if there were no block.
    if (this.val() === "}") return false;
    this.#nesting++;
    return true;
  }

  /** Current token text, or "" when none is loaded. */
  val(): string {
    const t = this.#tokens[this.#cursor];
    return this.#cursor < 0 || t === undefined ? "" : t.text;
  }

  /** Current token's line, or 0 when none is loaded. */
  line(): number {
    const t = this.#tokens[this.#cursor];
    return this.#cursor < 0 || t === undefined ? 0 : t.line;
  }

  /** Current token's file, or the dispenser's file name when none is loaded. */
  file(): string {
    const t = this.#tokens[this.#cursor];
    if (this.#cursor < 0 || t === undefined) return this.#filename;
    return t.file || this.#filename;
  }

  /** Collects the rest of this line's tokens, stopping before (not consuming) a `{`. */
  remainingArgs(): string[] {
    const args: string[] = [];
    while (this.nextArg()) {
      if (this.val() === "{") {
        this.#cursor--;
        break;
      }
      args.push(this.val());
    }
    return args;
  }

  /** `FILE:LINE - Error during parsing: Wrong argument count or unexpected line ending after 'VAL'`. */
  argErr(): CorefileError {
    return argError(this.file(), this.line(), this.val());
  }

  /** `FILE:LINE - Error during parsing: MSG`. */
  err(msg: string): CorefileError {
    return parseError(this.file(), this.line(), msg);
  }

  /** `FILE:LINE - Syntax error: Unexpected token 'VAL', expecting 'EXP'`. */
  syntaxErr(expected: string): CorefileError {
    return syntaxError(this.file(), this.line(), this.val(), expected);
  }
}
