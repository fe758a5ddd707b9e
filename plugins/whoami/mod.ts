/** *whoami*: Corefile syntax (no arguments; a second line is ignored, as CoreDNS). */

import { warnParsedOnly } from "../../lib/server/parsed_only.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

function setup(c: Controller): void {
  const d = c.dispenser;
  d.next(); // "whoami"
  if (d.nextArg()) throw d.argErr();
  warnParsedOnly(c, "whoami");
}

export const whoami: Plugin = { name: "whoami", setup };
