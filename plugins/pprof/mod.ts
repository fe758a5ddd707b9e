import type { Plugin } from "../../lib/server/plugin.ts";
import { setup } from "./setup.ts";

/** *pprof*: serves the process's profiles under `/debug/pprof/`. */
export const pprof: Plugin = { name: "pprof", setup };
