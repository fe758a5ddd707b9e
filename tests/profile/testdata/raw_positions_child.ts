// Run by tests/profile/sourcemap_test.ts without read access to DENO_DIR:
// frames must keep raw positions and the profile must say so.

import { captureCpuProfile } from "../../../lib/profile/mod.ts";
import { alpha } from "./workload.ts";

let running = true;
const work = (async () => {
  while (running) {
    alpha(20);
    await new Promise((r) => setTimeout(r, 0));
  }
})();
const p = await captureCpuProfile({
  durationMillis: 300,
  intervalMicros: 1000,
});
running = false;
await work;
const s = p.stringTable.strings;
const alphaFn = p.function.find((f) => s[Number(f.name)] === "alpha");
const alphaLoc = p.location.find((l) => l.line[0]?.functionId === alphaFn?.id);
console.log(JSON.stringify({
  comments: p.comment.map((c) => s[Number(c)]),
  file: s[Number(alphaFn?.filename)],
  line: Number(alphaLoc?.line[0]?.line),
}));
