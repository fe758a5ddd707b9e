// Run by tests/profile/sourcemap_test.ts without read access to DENO_DIR:
// frames must keep raw positions and the profile must say so.

import { LocalIsolates, Profiler } from "../../../lib/profile/mod.ts";
import { alpha } from "./workload.ts";

const profiler = new Profiler(new LocalIsolates(), { intervalMicros: 1000 });

// CHANGE_SELF (tests/profile/sourcemap_test.ts, on a bundle of this file):
// the script's file changes after it was loaded, by a newer mtime alone
// ("touch") or by new content ("edit").
const change = Deno.env.get("CHANGE_SELF");
const self = import.meta.filename!;
if (change === "touch") {
  await Deno.utime(self, new Date(), new Date(Date.now() + 60_000));
} else if (change === "edit") {
  await Deno.writeTextFile(self, "// rebuilt\n", { append: true });
}

let running = true;
const work = (async () => {
  while (running) {
    alpha(20);
    await new Promise((r) => setTimeout(r, 0));
  }
})();
const p = await profiler.cpuProfile({ durationMillis: 300 });
await profiler.close();
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
