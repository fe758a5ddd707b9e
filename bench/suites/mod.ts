/**
 * The bench's metrics (P0–P13 and the DNS ratios), each a suite that starts
 * its own processes on free 127.0.0.1 ports and stops them when done. One
 * file per suite group; SUITES is the order they run in.
 */

import { P3 } from "./build.ts";
import type { Suite } from "./common.ts";
import { P1, P11, P1n, P2, P5 } from "./cpu.ts";
import { P6 } from "./dns.ts";
import { P4 } from "./heap.ts";
import { P9 } from "./resolver.ts";
import { P12 } from "./scrape.ts";
import { P7, P7w } from "./start.ts";
import { U1 } from "./viewer.ts";
import { P13, P1w } from "./workers.ts";

export type { Config, Suite } from "./common.ts";

export const SUITES: Suite[] = [
  P1,
  P1n,
  P2,
  P5,
  P11,
  P12,
  P1w,
  P13,
  P3,
  P4,
  P6,
  P9,
  P7,
  P7w,
  U1,
];
