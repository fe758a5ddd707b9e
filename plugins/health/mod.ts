/** *health*: Corefile syntax, `health [ADDRESS] { lameduck DURATION }`; default `:8080`, last line wins. */

import { parseDuration } from "../../lib/duration.ts";
import { splitHostPort } from "../../lib/net/host_port.ts";
import { warnParsedOnly } from "../../lib/server/parsed_only.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

function setup(c: Controller): void {
  const d = c.dispenser;
  while (d.next()) {
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    // CoreDNS returns SplitHostPort's error bare here: no file and line.
    if (args.length === 1) splitHostPort(args[0]!);
    while (d.nextBlock()) {
      if (d.val() !== "lameduck") throw d.argErr();
      const value = d.remainingArgs();
      if (value.length !== 1) throw d.argErr();
      try {
        parseDuration(value[0]!);
      } catch (error) {
        throw new Error(
          `unable to parse lameduck duration value: '${value[0]}' : ${
            (error as Error).message
          }`,
        );
      }
    }
  }
  warnParsedOnly(c, "health");
}

export const health: Plugin = { name: "health", setup };
