/**
 * Corefile parser: caddy v1's caddyfile parser as CoreDNS 1.14 pins it
 * (corefile.md §2), with `import`, snippets and environment substitution.
 * Its length is one class kept whole on purpose: caddy's parser method for
 * method, so each can be read against caddy's code. File imports live in
 * imports.ts.
 *
 * @module
 */

import { argError, CorefileError, parseError, syntaxError } from "./errors.ts";
import { newlines, type Token, tokenize } from "./lexer.ts";
import { EnvExpansionError, type EnvLookup, replaceEnvVars } from "./env.ts";
import { FileImporter, ImportError } from "./imports.ts";
import { message } from "../errors.ts";

/** Directive name → its tokens in one server block. */
export interface ServerBlock {
  /** Addresses after env substitution, before normalization. */
  keys: string[];
  /** Directive name → all its tokens in this block, in file order; the first token of each occurrence is raw. */
  tokens: Map<string, Token[]>;
}

/** Options of {@linkcode parseCorefile}. */
export interface ParseOptions {
  /** Name of the main file ("Corefile" or the -conf value); used in messages and to resolve imports. */
  filename: string;
  /** Valid directive names (plugin.cfg), matched case-sensitively. */
  directives: ReadonlySet<string>;
  /** Environment lookup; default Deno.env.get. */
  env?: (name: string) => string | undefined;
  /** Receives warnings such as "[WARNING] No files matching import glob pattern: P"; default console.log. */
  warn?: (line: string) => void;
  /** Directory a relative `filename` is resolved against (for imports); default Deno.cwd(). */
  dir?: string;
}

// caddy's limits. The file limit's message prints the snippet limit, as
// CoreDNS does.
const MAX_SNIPPET_EXPANSIONS = 10000;
const MAX_FILE_EXPANSIONS = 100000;
/**
 * Deliberate difference from CoreDNS: imports may splice at most this many
 * tokens in one parse. CoreDNS has no such cap, so a few lines of nested
 * snippets can make it build hundreds of millions of tokens; we report an
 * error instead of running out of time or memory.
 */
export const MAX_IMPORTED_TOKENS = 2_000_000;

function defaultEnv(name: string): string | undefined {
  return Deno.env.get(name);
}

function defaultWarn(line: string): void {
  // deno-lint-ignore no-console
  console.log(line);
}

function copyToken(t: Token): Token {
  return { file: t.file, line: t.line, text: t.text };
}

class Parser {
  readonly #filename: string;
  readonly #directives: ReadonlySet<string>;
  readonly #lookup: EnvLookup;

  // The token list as a cursor, like caddy's Dispenser, but stored as two
  // stacks so that splicing an import in costs only the imported tokens:
  // #done holds the tokens up to the cursor (its tail, see #trim), #rest the
  // tokens after it, reversed. #cursor and #len mirror Go's cursor and
  // len(tokens) exactly, so the conditions below read like caddy's code.
  #done: Token[] = [];
  #rest: Token[];
  #cursor = -1;
  #len: number;

  #block: ServerBlock = { keys: [], tokens: new Map() };
  #eof = false;
  #snippets = new Map<string, Token[]>();
  #snippetExpansions = 0;
  #fileExpansions = 0;
  #importedTokens = 0;
  readonly #files: FileImporter;

  constructor(text: string, options: ParseOptions) {
    this.#filename = options.filename;
    this.#directives = options.directives;
    this.#lookup = options.env ?? defaultEnv;
    this.#files = new FileImporter({
      mainFile: options.filename,
      ...(options.dir === undefined ? {} : { dir: options.dir }),
      warn: options.warn ?? defaultWarn,
    });
    const tokens = tokenize(text, options.filename);
    this.#len = tokens.length;
    this.#rest = tokens.reverse();
  }

  // --- cursor ---------------------------------------------------------

  #current(): Token | undefined {
    if (this.#cursor < 0 || this.#cursor >= this.#len) return undefined;
    return this.#done[this.#done.length - 1];
  }

  #next(): boolean {
    if (this.#cursor < this.#len - 1) {
      this.#cursor++;
      this.#done.push(this.#rest.pop()!);
      this.#trim();
      return true;
    }
    return false;
  }

  /** Go's `p.cursor--`. */
  #back(): void {
    if (this.#cursor < 0) return;
    if (this.#cursor < this.#len) this.#rest.push(this.#done.pop()!);
    this.#cursor--;
  }

  // Only the last two consumed tokens are ever looked at again.
  #trim(): void {
    if (this.#done.length > 4096) this.#done = this.#done.slice(-16);
  }

  #nextArg(): boolean {
    if (this.#cursor < 0) return this.#next();
    if (this.#cursor >= this.#len) return false;
    const cur = this.#current()!;
    const nxt = this.#rest[this.#rest.length - 1];
    if (
      nxt !== undefined && cur.file === nxt.file &&
      cur.line + newlines(cur.text) === nxt.line
    ) {
      return this.#next();
    }
    return false;
  }

  #isNewLine(): boolean {
    if (this.#cursor < 1) return true;
    if (this.#cursor > this.#len - 1) return false;
    const cur = this.#done[this.#done.length - 1]!;
    const prev = this.#done[this.#done.length - 2]!;
    return prev.file !== cur.file || prev.line + newlines(prev.text) < cur.line;
  }

  #val(): string {
    return this.#current()?.text ?? "";
  }

  #file(): string {
    return this.#current()?.file || this.#filename;
  }

  #line(): number {
    return this.#current()?.line ?? 0;
  }

  // --- errors ---------------------------------------------------------

  #err(msg: string): CorefileError {
    return parseError(this.#file(), this.#line(), msg);
  }

  #syntaxErr(expected: string): CorefileError {
    return syntaxError(this.#file(), this.#line(), this.#val(), expected);
  }

  #argErr(): CorefileError {
    return argError(this.#file(), this.#line(), this.#val());
  }

  #env(text: string): string {
    try {
      return replaceEnvVars(text, this.#safeLookup);
    } catch (e) {
      if (e instanceof EnvExpansionError) throw this.#err(e.message);
      throw e;
    }
  }

  // Deno.env.get throws for names it cannot hold (empty, "=", NUL); Go's
  // Getenv just finds nothing. A permission problem is reported instead.
  #safeLookup = (name: string): string | undefined => {
    try {
      return this.#lookup(name);
    } catch (e) {
      if (e instanceof TypeError) return undefined;
      throw new EnvExpansionError(
        `cannot read environment variable ${name}: ${message(e)}`,
      );
    }
  };

  // --- grammar --------------------------------------------------------

  parseAll(): ServerBlock[] {
    const blocks: ServerBlock[] = [];
    while (this.#next()) {
      this.#block = { keys: [], tokens: new Map() };
      this.#begin();
      if (this.#block.keys.length > 0) blocks.push(this.#block);
    }
    return blocks;
  }

  #begin(): void {
    if (this.#len === 0) return;
    this.#addresses();
    // A file that ends in a key line: the block is keys only.
    if (this.#eof) return;

    const name = this.#snippetName();
    if (name !== undefined) {
      if (this.#snippets.has(name)) {
        throw this.#err(`redeclaration of previously declared snippet ${name}`);
      }
      const tokens = this.#snippetTokens();
      // caddy's minimal guard: a body that imports its own name at the start
      // of a line would recurse until the expansion cap, so fail right away.
      for (let i = 0; i + 1 < tokens.length; i++) {
        if (tokens[i]!.text !== "import") continue;
        const prev = tokens[i - 1];
        const atLineStart = i === 0 || prev!.file !== tokens[i]!.file ||
          prev!.line !== tokens[i]!.line;
        if (atLineStart && this.#env(tokens[i + 1]!.text) === name) {
          throw this.#err(
            `maximum snippet import depth (${MAX_SNIPPET_EXPANSIONS}) exceeded`,
          );
        }
      }
      this.#snippets.set(name, tokens);
      this.#block.keys = [];
      return;
    }
    this.#blockContents();
  }

  #addresses(): void {
    let expectingAnother = false;
    for (;;) {
      let tkn = this.#env(this.#val());

      // import replaces tokens at parse time; re-read the first imported one.
      if (tkn === "import" && this.#isNewLine()) {
        this.#doImport();
        continue;
      }

      if (tkn === "{") {
        if (expectingAnother) {
          throw this.#err(
            `Expected another address but had '${tkn}' - check for extra comma`,
          );
        }
        break;
      }

      // An empty token ("" or a variable that expands to nothing) is skipped.
      if (tkn !== "") {
        // A trailing comma means another address follows, maybe on the next line.
        if (tkn.endsWith(",")) {
          tkn = tkn.slice(0, -1);
          expectingAnother = true;
        } else {
          expectingAnother = false;
        }
        this.#block.keys.push(tkn);
      }

      const hasNext = this.#next();
      if (expectingAnother && !hasNext) throw this.#err("Unexpected EOF");
      if (!hasNext) {
        this.#eof = true;
        break;
      }
      if (!expectingAnother && this.#isNewLine()) break;
    }
  }

  #blockContents(): void {
    const braced = this.#val() === "{";
    // Single-server configs need no braces: step back so the token is read
    // as the first directive.
    if (!braced) this.#back();
    this.#parseDirectives();
    // Only a block that opened with a brace must close with one.
    if (braced && this.#val() !== "}") throw this.#syntaxErr("}");
  }

  #parseDirectives(): void {
    while (this.#next()) {
      // In brace-less mode a } also ends the block; what follows starts a new one.
      if (this.#val() === "}") break;
      if (this.#val() === "import") {
        this.#doImport();
        // The loop advances onto the first imported token.
        this.#back();
        continue;
      }
      this.#directive();
    }
  }

  #directive(): void {
    const name = this.#env(this.#val());
    if (!this.#directives.has(name)) {
      throw this.#err(`Unknown directive '${name}'`);
    }
    let list = this.#block.tokens.get(name);
    if (list === undefined) {
      list = [];
      this.#block.tokens.set(name, list);
    }
    // The directive's own token is stored raw.
    list.push(copyToken(this.#current()!));

    // Structure decisions use the raw text, so a variable holding "{" is an
    // ordinary argument here.
    let nesting = 0;
    while (this.#next()) {
      const v = this.#val();
      if (v === "{") {
        nesting++;
      } else if (this.#isNewLine() && nesting === 0) {
        this.#back(); // read too far
        break;
      } else if (v === "}" && nesting > 0) {
        nesting--;
      } else if (v === "}" && nesting === 0) {
        throw this.#err("Unexpected '}' because no matching opening brace");
      } else if (v === "import" && this.#isNewLine()) {
        this.#doImport();
        this.#back();
        continue;
      }
      const cur = this.#current()!;
      cur.text = this.#env(cur.text);
      list.push(copyToken(cur));
    }
    if (nesting > 0) throw this.#err("Unexpected EOF");
  }

  #snippetName(): string | undefined {
    const keys = this.#block.keys;
    if (keys.length !== 1) return undefined;
    const k = keys[0]!;
    if (!k.startsWith("(") || !k.endsWith(")")) return undefined;
    const inner = k.slice(1);
    return inner.endsWith(")") ? inner.slice(0, -1) : inner;
  }

  #snippetTokens(): Token[] {
    if (this.#val() !== "{") throw this.#syntaxErr("{");
    let count = 1;
    const tokens: Token[] = [];
    while (this.#next()) {
      if (this.#val() === "}") {
        count--;
        if (count === 0) break;
      }
      if (this.#val() === "{") count++;
      tokens.push(copyToken(this.#current()!));
    }
    if (count !== 0) throw this.#syntaxErr("}");
    return tokens;
  }

  // --- import ---------------------------------------------------------

  /**
   * Replaces `import PATTERN` (two tokens) with the snippet's or files'
   * tokens and leaves the cursor on the first of them, as caddy's doImport.
   */
  #doImport(): void {
    if (!this.#nextArg()) throw this.#argErr();
    const importPattern = this.#env(this.#val());
    if (importPattern === "") {
      throw this.#err("Import requires a non-empty filepath");
    }
    if (this.#nextArg()) {
      throw this.#err("Import takes only one argument (glob pattern or file)");
    }

    let imported: Token[];
    const snippet = this.#snippets.get(importPattern);
    if (snippet !== undefined) {
      if (this.#snippetExpansions >= MAX_SNIPPET_EXPANSIONS) {
        throw this.#err(
          `maximum snippet import depth (${MAX_SNIPPET_EXPANSIONS}) exceeded`,
        );
      }
      this.#snippetExpansions++;
      imported = snippet;
    } else {
      if (this.#fileExpansions >= MAX_FILE_EXPANSIONS) {
        throw this.#err(
          `maximum file import depth (${MAX_SNIPPET_EXPANSIONS}) exceeded`,
        );
      }
      this.#fileExpansions++;
      try {
        imported = this.#files.tokens(importPattern, this.#file());
      } catch (e) {
        if (e instanceof ImportError) throw this.#err(e.message);
        throw e;
      }
    }

    this.#importedTokens += imported.length;
    if (this.#importedTokens > MAX_IMPORTED_TOKENS) {
      throw this.#err(
        `imports expand to more than ${MAX_IMPORTED_TOKENS} tokens`,
      );
    }

    // Splice out `import` and its argument (the cursor is on the argument),
    // splice in copies of the imported tokens, and put the cursor on the
    // first of them (or past the end when nothing follows).
    this.#done.pop();
    this.#done.pop();
    this.#len -= 2;
    for (let k = imported.length - 1; k >= 0; k--) {
      this.#rest.push(copyToken(imported[k]!));
    }
    this.#len += imported.length;
    this.#cursor -= 2;
    // Go: p.cursor-- from the argument's index lands on the import's index.
    if (this.#cursor < this.#len - 1) {
      this.#cursor++;
      this.#done.push(this.#rest.pop()!);
    } else {
      this.#cursor++;
    }
  }
}

/**
 * Parses a Corefile into server blocks, expanding `import`, snippets and
 * environment variables, and checking directive names, exactly as CoreDNS.
 * A file with no server blocks (empty, comments or snippets only, keyless
 * blocks) returns []; the caller substitutes CoreDNS's default config.
 *
 * @param text the main file's text
 * @param options file name, valid directives, environment, warning sink
 * @returns the server blocks in file order
 * @throws {CorefileError} for any syntax problem, with CoreDNS's message
 *
 * @example Usage
 * ```ts
 * import { parseCorefile } from "./parser.ts";
 * const blocks = parseCorefile(". {\n  whoami\n}\n", {
 *   filename: "Corefile",
 *   directives: new Set(["whoami"]),
 * });
 * if (blocks[0]?.keys[0] !== ".") throw new Error("unexpected");
 * ```
 */
export function parseCorefile(
  text: string,
  options: ParseOptions,
): ServerBlock[] {
  const parser = new Parser(text, options);
  try {
    return parser.parseAll();
  } catch (e) {
    if (e instanceof CorefileError) throw e;
    // Anything else is a bug or an environment failure; keep the promise
    // that parsing only ever throws CorefileError.
    const msg = message(e);
    throw new CorefileError(
      `${options.filename}:0 - Error during parsing: ${msg}`,
      options.filename,
      0,
    );
  }
}
