/**
 * Stalls are booked to the code that held the loop, told apart from the
 * profiler's own work by source-mapped file, not by where a script was
 * loaded from: an app mounted with `withPprof` whose handler spins 60 ms
 * has that time on its handler's function, from source and in a bundle
 * (whose one script holds the app and the profiler alike).
 */

import assert from "node:assert/strict";
import { decodeProfile } from "../../lib/profile/pprof.ts";
import { stacks, typeIndex } from "../profile/_helpers.ts";
import {
  bundleWithMap,
  spawnScript,
  START_PERMISSIONS,
  waitFor,
} from "../_helpers.ts";

const APP = new URL("fixtures/with_pprof_app.ts", import.meta.url).pathname;
const PROFILER_FRAME = "[profiler: coredeno's own work]";

/** Bundles the app (its map corrected as `deno task bundle` does) into `dir`. */
async function bundleApp(dir: string): Promise<string> {
  const out = `${dir}/app.js`;
  const { code, map } = await bundleWithMap(APP, out);
  await Deno.writeTextFile(`${out}.map`, map);
  await Deno.writeTextFile(out, `${code}//# sourceMappingURL=app.js.map\n`);
  return out;
}

/** Delay (ns) by the innermost frame of each stall's stack. */
async function blockByLeaf(script: string, noConfig: boolean) {
  const app = noConfig
    ? (() => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-config", ...START_PERMISSIONS, script],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      return child;
    })()
    : undefined;
  const server = app
    ? (await import("../_helpers.ts")).captured(app)
    : spawnScript(script, []);
  try {
    await waitFor("the app", () => /^ready \d+/m.test(server.stdout()));
    const port = Number(/^ready (\d+)/m.exec(server.stdout())![1]);
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 20; i++) {
      await (await fetch(`${base}/spin`)).text();
      await new Promise((r) => setTimeout(r, 20));
    }
    const response = await fetch(`${base}/debug/pprof/block`);
    assert.equal(response.status, 200, await response.clone().text());
    const p = decodeProfile(new Uint8Array(await response.arrayBuffer()));
    const delay = typeIndex(p, "delay");
    const byLeaf = new Map<string, number>();
    let total = 0;
    for (const s of stacks(p)) {
      const leaf = s.frames[0]!;
      const key = `${leaf.name} ${leaf.file}`;
      byLeaf.set(key, (byLeaf.get(key) ?? 0) + s.value[delay]!);
      total += s.value[delay]!;
    }
    return { byLeaf, total };
  } finally {
    await server.stop();
  }
}

function assertHandlerBooked(
  { byLeaf, total }: { byLeaf: Map<string, number>; total: number },
) {
  const share = (name: string) =>
    [...byLeaf].filter(([k]) => k.startsWith(`${name} `))
      .reduce((a, [, v]) => a + v, 0) / total;
  console.log(
    `handlerSpin ${(100 * share("handlerSpin")).toFixed(1)}%, profiler ${
      (100 * share(PROFILER_FRAME)).toFixed(1)
    }% of ${(total / 1e6).toFixed(0)} ms; ${
      JSON.stringify([...byLeaf].map(([k, v]) => [k, Math.round(v / 1e6)]))
    }`,
  );
  // 20 stalls of 60 ms: most of the delay, on the handler's function, at
  // its TypeScript file (the map applied, in the bundle too).
  assert.ok(share("handlerSpin") >= 0.75, "handlerSpin's share");
  assert.ok(share(PROFILER_FRAME) <= 0.1, "the profiler's share");
  for (const key of byLeaf.keys()) {
    if (key.startsWith("handlerSpin ")) assert.equal(key, `handlerSpin ${APP}`);
  }
}

Deno.test("block under withPprof: a handler's 60 ms spins are its own stalls, not the profiler's (from source)", async () => {
  assertHandlerBooked(await blockByLeaf(APP, false));
});

Deno.test("block under withPprof, bundled: the same, through the bundle's map", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-bundled-app-" });
  try {
    assertHandlerBooked(await blockByLeaf(await bundleApp(dir), true));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
