/**
 * The Corefile engine: lexer, parser (import, snippets, environment),
 * Dispenser for plugin setup, key normalization and server grouping, with
 * CoreDNS's exact semantics and error messages.
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
