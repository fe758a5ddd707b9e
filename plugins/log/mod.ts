/** *log*: Corefile syntax, `log [NAMES...] [FORMAT] { class CLASSES... }`. */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import { warnParsedOnly } from "../../lib/server/parsed_only.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

export const DEFAULT_LOG_FORMAT =
  '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}';
export const COMMON_LOG_FORMAT = DEFAULT_LOG_FORMAT;
export const COMBINED_LOG_FORMAT = `${COMMON_LOG_FORMAT} "{>opcode}"`;

const CLASSES = new Set(["all", "success", "denial", "error"]);

export interface LogRule {
  nameScope: string;
  format: string;
  classes: Set<string>;
}

/** Parses every `log` line of a block into rules, in order. */
export function parseLog(d: Dispenser): LogRule[] {
  const rules: LogRule[] = [];
  while (d.next()) {
    const args = d.remainingArgs();
    let format = DEFAULT_LOG_FORMAT;
    // One argument is always a name; with more, the last is a format if it has a '{'.
    if (args.length > 1 && args.at(-1)!.includes("{")) {
      format = args.pop()!.replaceAll("{common}", COMMON_LOG_FORMAT).replaceAll(
        "{combined}",
        COMBINED_LOG_FORMAT,
      );
    }
    const names = args.length === 0 ? ["."] : args;
    const classes = new Set<string>();
    while (d.nextBlock()) {
      if (d.val() !== "class") throw d.err(`unknown property '${d.val()}'`);
      const classArgs = d.remainingArgs();
      if (classArgs.length === 0) throw d.argErr();
      for (const name of classArgs) {
        if (!CLASSES.has(name)) throw new Error(`invalid Class: ${name}`);
        classes.add(name);
      }
    }
    if (classes.size === 0) classes.add("all");
    for (const name of names) {
      rules.push({ nameScope: fqdn(name), format, classes });
    }
  }
  return rules;
}

function fqdn(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}

function setup(c: Controller): void {
  parseLog(c.dispenser);
  warnParsedOnly(c, "log");
}

export const log: Plugin = { name: "log", setup };
