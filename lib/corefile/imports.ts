/**
 * What `import PATTERN` reads when PATTERN names files, not a snippet:
 * caddy's glob rules, each file tokenized once per parse (an import cycle
 * re-reads the same files up to 100000 times before it hits caddy's limit)
 * and every directory looked at once.
 *
 * @module
 */

import { decodeUtf8, type Token, tokenize } from "./lexer.ts";
import {
  abs,
  dir as dirOf,
  glob,
  type GlobFs,
  GlobPatternError,
  isAbs,
  join,
} from "./glob.ts";
import { message } from "../errors.ts";

/** An import that cannot be done, worded as caddy's; the parser adds file and line. */
export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImportError";
  }
}

type Imported = { tokens: Token[] } | { error: string };

/** Resolves file imports for one parse. */
export class FileImporter {
  readonly #mainFile: string;
  readonly #baseDir: string | undefined;
  readonly #warn: (line: string) => void;
  readonly #fileCache = new Map<string, Imported>();
  readonly #globCache = new Map<string, string[]>();
  readonly #fs: GlobFs = cachedFs();
  #cwd: string | undefined;

  /**
   * @param options.mainFile the Corefile's name, for messages
   * @param options.dir the folder a relative main file is in (default: cwd)
   * @param options.warn receives caddy's "No files matching" warning
   */
  constructor(
    options: { mainFile: string; dir?: string; warn: (line: string) => void },
  ) {
    this.#mainFile = options.mainFile;
    this.#baseDir = options.dir;
    this.#warn = options.warn;
  }

  /** The tokens of every file `importPattern` names, relative to `fromFile`'s folder. */
  tokens(importPattern: string, fromFile: string): Token[] {
    let absFile: string;
    try {
      absFile = abs(fromFile, this.#workDir());
    } catch (e) {
      throw new ImportError(
        `Failed to get absolute path of file: ${this.#mainFile}: ${message(e)}`,
      );
    }
    const globPattern = isAbs(importPattern)
      ? importPattern
      : join(dirOf(absFile), importPattern);
    if (
      count(globPattern, "*") > 1 || count(globPattern, "?") > 1 ||
      (globPattern.includes("[") && globPattern.includes("]"))
    ) {
      // caddy's guard against patterns that take too long to expand.
      throw new ImportError(
        `Glob pattern may only contain one wildcard (*), but has others: ${globPattern}`,
      );
    }
    let matches = this.#globCache.get(globPattern);
    if (matches === undefined) {
      try {
        matches = glob(globPattern, this.#fs);
      } catch (e) {
        if (e instanceof GlobPatternError) {
          throw new ImportError(
            `Failed to use import pattern ${importPattern}: ${e.message}`,
          );
        }
        throw e;
      }
      this.#globCache.set(globPattern, matches);
    }
    if (matches.length === 0) {
      if (/[*?[\]]/.test(globPattern)) {
        this.#warn(
          `[WARNING] No files matching import glob pattern: ${importPattern}`,
        );
      } else {
        throw new ImportError(`File to import not found: ${importPattern}`);
      }
    }
    const tokens: Token[] = [];
    for (const file of matches) {
      for (const t of this.#importFile(file)) tokens.push(t);
    }
    return tokens;
  }

  // Go calls filepath.Abs (and so Getwd) per import; once per parse is enough.
  #workDir(): string {
    if (this.#cwd === undefined) {
      const cwd = Deno.cwd();
      this.#cwd = this.#baseDir === undefined ? cwd : abs(this.#baseDir, cwd);
    }
    return this.#cwd;
  }

  // Files are read once per parse: an import cycle re-reads the same files
  // up to 100000 times before it hits caddy's limit.
  #importFile(file: string): Token[] {
    let entry = this.#fileCache.get(file);
    if (entry === undefined) {
      entry = readImport(file);
      this.#fileCache.set(file, entry);
    }
    if ("error" in entry) throw new ImportError(entry.error);
    return entry.tokens;
  }
}

function readImport(file: string): Imported {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(file);
  } catch (e) {
    return { error: `Could not import ${file}: open ${file}: ${ioReason(e)}` };
  }
  if (info.isDirectory) {
    return { error: `Could not import ${file}: is a directory` };
  }
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(file);
  } catch (e) {
    return { error: `Could not import ${file}: open ${file}: ${ioReason(e)}` };
  }
  // Imported tokens carry the file's absolute path, so errors name it.
  return { tokens: tokenize(decodeUtf8(bytes), abs(file, "/")) };
}

function count(s: string, ch: string): number {
  let n = 0;
  for (let i = s.indexOf(ch); i !== -1; i = s.indexOf(ch, i + 1)) n++;
  return n;
}

function cachedFs(): GlobFs {
  const exists = new Map<string, boolean>();
  const dirs = new Map<string, boolean>();
  const names = new Map<string, string[]>();
  return {
    exists(path) {
      let v = exists.get(path);
      if (v === undefined) {
        try {
          Deno.lstatSync(path);
          v = true;
        } catch {
          v = false;
        }
        exists.set(path, v);
      }
      return v;
    },
    isDir(path) {
      let v = dirs.get(path);
      if (v === undefined) {
        try {
          v = Deno.statSync(path).isDirectory;
        } catch {
          v = false;
        }
        dirs.set(path, v);
      }
      return v;
    },
    readDirNames(path) {
      let v = names.get(path);
      if (v === undefined) {
        v = [];
        try {
          for (const e of Deno.readDirSync(path)) v.push(e.name);
        } catch {
          // Go ignores directory read errors and uses what it got.
        }
        names.set(path, v);
      }
      return v;
    },
  };
}

/** Go's syscall error text for a Deno file-system error. */
function ioReason(e: unknown): string {
  const msg = message(e);
  const cut = msg.indexOf(" (os error");
  if (cut === -1) return msg;
  const reason = msg.slice(0, cut);
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}
