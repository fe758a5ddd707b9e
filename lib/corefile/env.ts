/**
 * `{$NAME}` and `{%NAME%}` substitution in token text (corefile.md §2.5).
 *
 * @module
 */

/** Looks up one environment variable; undefined means unset. */
export type EnvLookup = (name: string) => string | undefined;

/**
 * Thrown by {@linkcode replaceEnvVars} when expansion does not settle. The
 * parser turns it into a CorefileError at the current token.
 */
export class EnvExpansionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvExpansionError";
  }
}

/**
 * CoreDNS rescans from the start after every replacement, so a variable whose
 * value refers to itself (A="{$A}") hangs CoreDNS forever. We deliberately
 * stop instead, after this many rescans or once the text grows past
 * MAX_EXPANDED_LENGTH, and report an error.
 */
export const MAX_ENV_RESCANS = 1000;
/** See {@linkcode MAX_ENV_RESCANS}: guards values that double on every rescan. */
export const MAX_EXPANDED_LENGTH = 1 << 20;

/**
 * Replaces environment references the way caddy's replaceEnvVars does: the
 * `{%…%}` pass first, then `{$…}`; unset variables become "".
 *
 * @throws {EnvExpansionError} when expansion does not terminate (see MAX_ENV_RESCANS)
 */
export function replaceEnvVars(s: string, lookup: EnvLookup): string {
  if (!s.includes("{")) return s;
  s = replaceEnvReferences(s, "{%", "%}", lookup);
  s = replaceEnvReferences(s, "{$", "}", lookup);
  return s;
}

function replaceEnvReferences(
  s: string,
  refStart: string,
  refEnd: string,
  lookup: EnvLookup,
): string {
  let index = s.indexOf(refStart);
  let rescans = 0;
  while (index !== -1) {
    // Go searches for the end marker from the start marker itself, not after it.
    const endIndex = s.indexOf(refEnd, index);
    if (endIndex === -1) break;
    if (endIndex <= index + refStart.length) {
      // An empty name ({$}, {%%}) stops the pass and leaves the rest as is.
      return s;
    }
    const ref = s.slice(index, endIndex + refEnd.length);
    const name = ref.slice(refStart.length, ref.length - refEnd.length);
    s = s.split(ref).join(lookup(name) ?? "");
    if (++rescans > MAX_ENV_RESCANS || s.length > MAX_EXPANDED_LENGTH) {
      throw new EnvExpansionError(
        `environment variable expansion does not terminate (variable ${name} refers to itself?)`,
      );
    }
    index = s.indexOf(refStart);
  }
  return s;
}
