/** *errors*: Corefile syntax, `errors [stdout] { stacktrace | consolidate DURATION REGEXP [LEVEL] [show_first] }`. */

import { parseDuration } from "../../lib/duration.ts";
import { OnceError } from "../../lib/server/errors.ts";
import { warnParsedOnly } from "../../lib/server/parsed_only.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const LEVELS = new Set(["warning", "error", "info", "debug"]);

function setup(c: Controller): void {
  const d = c.dispenser;
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    if (args.length === 1 && args[0] !== "stdout") {
      throw d.err(`invalid log file: ${args[0]}`);
    }
    while (d.nextBlock()) {
      switch (d.val()) {
        case "stacktrace":
          break;
        case "consolidate": {
          const rest = d.remainingArgs();
          if (rest.length < 2 || rest.length > 4) throw d.argErr();
          try {
            parseDuration(rest[0]!);
            new RegExp(rest[1]!);
          } catch (error) {
            throw d.err((error as Error).message);
          }
          for (const option of rest.slice(2)) {
            if (!LEVELS.has(option) && option !== "show_first") {
              throw d.err(
                `unknown log level argument in consolidate: ${option}`,
              );
            }
          }
          break;
        }
        default:
          throw d.syntaxErr(`Unknown field ${d.val()}`);
      }
    }
  }
  warnParsedOnly(c, "errors");
}

export const errors: Plugin = { name: "errors", setup };
