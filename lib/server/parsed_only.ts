import { pluginLogger } from "../log.ts";
import type { Controller } from "./plugin.ts";

/**
 * For plugins whose Corefile syntax coredeno validates but whose serving
 * side has not landed yet: say so once at startup instead of pretending.
 */
export function warnParsedOnly(c: Controller, name: string): void {
  c.shared(`parsed-only:${name}`, () => {
    c.onStartup(() =>
      pluginLogger(name).warning(
        "configuration accepted, but this plugin does not serve yet",
      )
    );
    return true;
  });
}
