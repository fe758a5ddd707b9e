/**
 * The plugins coredeno implements. Execution order is CoreDNS's plugin.cfg
 * (`COREDNS_DIRECTIVES`), never the order of this list or of the Corefile.
 */

import { COREDNS_DIRECTIVES } from "../lib/corefile/directives.ts";
import type { Plugin } from "../lib/server/plugin.ts";
import { cache } from "./cache/mod.ts";
import { errors } from "./errors/mod.ts";
import { forward } from "./forward/mod.ts";
import { health } from "./health/mod.ts";
import { hosts } from "./hosts/mod.ts";
import { loadbalance } from "./loadbalance/mod.ts";
import { log } from "./log/mod.ts";
import { loop } from "./loop/mod.ts";
import { pprof } from "./pprof/mod.ts";
import { prometheus } from "./prometheus/mod.ts";
import { ready } from "./ready/mod.ts";
import { reload } from "./reload/mod.ts";
import { tls } from "./tls/mod.ts";
import { whoami } from "./whoami/mod.ts";

export const PLUGINS: readonly Plugin[] = [
  reload,
  ready,
  health,
  pprof,
  errors,
  log,
  whoami,
  forward,
  cache,
  prometheus,
  hosts,
  loadbalance,
  loop,
  tls,
];

/** Every directive a Corefile may name, in execution order. */
export const DIRECTIVES: readonly string[] = COREDNS_DIRECTIVES;
