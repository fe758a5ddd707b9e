/**
 * The names of the frames profiles add beside JavaScript's, in a module
 * that loads nothing (the watcher's first steps import it).
 */

/** Functions V8 reports without a script (builtins, GC, VM states). */
export const V8_FILE = "[v8]";

/** The frame for process CPU (or stall time) that no JavaScript sample accounts for. */
export const NATIVE_FRAME = "[native: Deno runtime/non-JS]";
/** Its pseudo-file: Deno's runtime, not a script. */
export const NATIVE_FILE = "[deno]";
