import { message } from "../errors.ts";

/** `plugin/NAME: <message>`, CoreDNS's `plugin.Error`. */
export class PluginError extends Error {
  constructor(readonly plugin: string, cause: unknown) {
    super(
      `plugin/${plugin}: ${message(cause)}`,
      { cause },
    );
    this.name = "PluginError";
  }
}

/** CoreDNS's `plugin.ErrOnce`. */
export const ERR_ONCE = "this plugin can only be used once per Server Block";

/** Thrown by a setup that finds its directive twice in one block. */
export class OnceError extends Error {
  constructor() {
    super(ERR_ONCE);
    this.name = "OnceError";
  }
}
