/**
 * Facts about the program being profiled that profiles quote: its main
 * module and its command line. On the main thread they are Deno's own; the
 * watcher Worker (where `Deno.mainModule` is undefined and `process.argv`
 * names the worker's script) is given the main thread's at start.
 */

import process from "node:process";

export const program: { mainModule: string; argv: string[] } = {
  mainModule: Deno.mainModule ?? "",
  argv: [...process.argv],
};

/** Sets the facts from the main thread's (in the watcher). */
export function setProgram(
  facts: { mainModule: string; argv: string[] },
): void {
  program.mainModule = facts.mainModule;
  program.argv = [...facts.argv];
}
