/** *ready*: Corefile syntax, `ready [ADDRESS] { monitor until-ready|continuously }`; default `:8181`. */

import { splitHostPort } from "../../lib/net/host_port.ts";
import { OnceError } from "../../lib/server/errors.ts";
import { warnParsedOnly } from "../../lib/server/parsed_only.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const MONITOR_TYPES = new Set(["until-ready", "continuously"]);

function setup(c: Controller): void {
  const d = c.dispenser;
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    if (args.length === 1) splitHostPort(args[0]!);
    while (d.nextBlock()) {
      if (d.val() !== "monitor") throw d.argErr();
      const value = d.remainingArgs();
      if (value.length !== 1) throw d.argErr();
      if (!MONITOR_TYPES.has(value[0]!)) {
        throw d.err(`monitor type '${value[0]}' not supported`);
      }
    }
  }
  warnParsedOnly(c, "ready");
}

export const ready: Plugin = { name: "ready", setup };
