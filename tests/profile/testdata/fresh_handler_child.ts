// Run by tests/profile/fresh_test.ts, once per fresh process: pprof served
// from the start, then a handler whose small hot function V8 inlines and
// optimizes (on-stack replacement included) within the first second while
// two clients load it; a 1 s CPU profile taken at once. Prints one JSON
// line: the hot function's and the handler's self time, ms.

import { servePprof } from "../../../lib/pprof/mod.ts";
import { decodeProfile } from "../../../lib/profile/pprof.ts";
import { makeHandler } from "./hot.ts";

const pprof = servePprof({ address: "127.0.0.1:0" });
await pprof.ready;
const tally = { requests: 0, hotMillis: 0 };
const app = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  makeHandler(tally),
);
let running = true;
const clients = Array.from({ length: 2 }, async () => {
  while (running) {
    await (await fetch(`http://127.0.0.1:${app.addr.port}/`)).text();
  }
});
const response = await fetch(
  `http://127.0.0.1:${pprof.addr.port}/debug/pprof/profile?seconds=1`,
);
const p = decodeProfile(new Uint8Array(await response.arrayBuffer()));
running = false;
await Promise.all(clients);
await app.shutdown();
await pprof.shutdown();

const s = p.stringTable.strings;
const names = new Map(p.function.map((f) => [Number(f.id), s[Number(f.name)]]));
const leafName = new Map(
  p.location.map((
    l,
  ) => [Number(l.id), names.get(Number(l.line[0]!.functionId))]),
);
const self = new Map<string, number>();
for (const sample of p.sample) {
  const leaf = leafName.get(Number(sample.locationId[0])) ?? "";
  self.set(leaf, (self.get(leaf) ?? 0) + Number(sample.value[1]) / 1e6);
}
// The handler is an anonymous arrow in makeHandler: named by its start.
const handler = [...self].filter(([name]) => name.startsWith("(anonymous:L#"))
  .reduce((a, [, ms]) => a + ms, 0);
console.log(
  JSON.stringify({
    hot: self.get("hot") ?? 0,
    handler,
    requests: tally.requests,
  }),
);
