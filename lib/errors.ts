/**
 * What to say about a thrown value. JavaScript can throw anything, and
 * TypeScript types a caught value as `unknown`: one helper instead of a cast
 * at every `catch`.
 *
 * @module
 */

/** An `Error`'s `message`; anything else thrown, as a string. */
export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
