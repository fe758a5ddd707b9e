/**
 * The Corefile engine: lexer, parser (import, snippets, environment),
 * Dispenser for plugin setup, key normalization and server grouping, with
 * CoreDNS's exact semantics and error messages (reference: corefile.md
 * §1–§3.2; every case of corefile-cases.jsonl is a test).
 *
 * Pipeline, as CoreDNS runs it: `parseCorefile` (parse errors) →
 * `inspectServerBlocks` ("error inspecting server blocks: …") → plugin setup
 * over a `Dispenser` per directive (the caller's job) → `groupServers`
 * (bad port, duplicate zone). An input with no server block parses to [];
 * the caller substitutes CoreDNS's default `.:PORT { whoami log }`.
 *
 * `import` globs follow Go's filepath.Glob on Unix: `*`, `?`, `[...]` and
 * `\` escapes, in any path element, matches in byte order, plus caddy's
 * limits (one `*`, one `?`, not both `[` and `]`). Service names as ports
 * (`-dns.port domain`) are not looked up in /etc/services.
 *
 * Deliberate differences, all where CoreDNS would hang or exhaust memory:
 * - a variable whose value refers to itself (`A={$A}`) is an error after
 *   1000 rescans or 1 MiB of text (CoreDNS loops forever);
 * - imports may splice at most 2 000 000 tokens per parse;
 * - no recursion anywhere, so any nesting depth parses.
 *
 * @module
 */

export { CorefileError } from "./errors.ts";
export type { Token } from "./lexer.ts";
export {
  parseCorefile,
  type ParseOptions,
  type ServerBlock,
} from "./parser.ts";
export { Dispenser } from "./dispenser.ts";
export {
  inspectServerBlocks,
  isValidZoneName,
  type Transport,
  type ZoneConfig,
} from "./keys.ts";
export { groupServers, type ServerGroup } from "./servers.ts";
export { COREDNS_DIRECTIVES } from "./directives.ts";
