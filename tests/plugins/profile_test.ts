/**
 * The point of the product: a CPU profile of a coredeno resolver under load
 * (cache in front of forward to a real unbound, with prometheus) names the
 * plugins that spend the time, at their own TypeScript files, so an operator
 * sees where their resolver's time goes.
 */

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { Profile } from "../../lib/deps.ts";
import { encodeMessage } from "../../lib/dns/wire.ts";
import { startCoredeno } from "../_helpers.ts";
import { queryMessage } from "../dns/_dns.ts";
import { startUnbound, unboundAvailable } from "../dns/_unbound.ts";

const hasUnbound = unboundAvailable();

/** Self time and total time (samples) per plugin folder, from a pprof CPU profile. */
function byPlugin(p: Profile): Map<string, { self: number; total: number }> {
  const s = p.stringTable.strings;
  const fileOf = new Map<string, string>();
  for (const f of p.function) fileOf.set(String(f.id), s[Number(f.filename)]!);
  const files = new Map<string, string[]>();
  for (const l of p.location) {
    files.set(
      String(l.id),
      l.line.map((line) => fileOf.get(String(line.functionId)) ?? ""),
    );
  }
  const plugin = (file: string) => /\/plugins\/([a-z0-9_]+)\//.exec(file)?.[1];
  const out = new Map<string, { self: number; total: number }>();
  for (const sample of p.sample) {
    const count = Number(sample.value[0]);
    const stack = sample.locationId.flatMap((id) =>
      files.get(String(id)) ?? []
    );
    const leaf = plugin(stack[0] ?? "");
    const seen = new Set(stack.map(plugin).filter((x) => x !== undefined));
    for (const name of seen) {
      const entry = out.get(name!) ?? { self: 0, total: 0 };
      entry.total += count;
      if (name === leaf) entry.self += count;
      out.set(name!, entry);
    }
  }
  return out;
}

Deno.test({
  name:
    "a CPU profile of coredeno under resolver load attributes time to cache, forward and prometheus, at their .ts files",
  ignore: !hasUnbound,
  async fn() {
    const unbound = await startUnbound();
    const server = await startCoredeno(
      `.:0 {\n  pprof 127.0.0.1:0\n  prometheus 127.0.0.1:0\n` +
        `  cache 30 {\n    success 100\n    denial 100\n  }\n  forward . 127.0.0.1:${unbound.port}\n}\n`,
    );
    const [dns, pprof] = [server.zonePort(), server.httpPort("pprof")];
    const socket = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    // 300 names for a 100-entry cache: hits, misses (forwarded) and evictions.
    const queries = Array.from(
      { length: 300 },
      (_, i) =>
        encodeMessage(queryMessage(`n${i}.example.test.`, "A", { id: i })),
    );
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: dns };
    let stop = false;
    let replies = 0;
    const load = (async () => {
      let i = 0;
      for (let k = 0; k < 16; k++) await socket.send(queries[i++ % 300]!, to);
      while (!stop) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const got = await Promise.race([
          socket.receive().then(() => true, () => false),
          new Promise<false>((r) => timer = setTimeout(() => r(false), 300)),
        ]);
        clearTimeout(timer);
        if (got) replies++;
        if (stop) break;
        // A lost reply (no answer within 300 ms) is replaced, so the load keeps 16 in flight.
        for (let k = got ? 1 : 16; k > 0; k--) {
          await socket.send(queries[i++ % 300]!, to);
        }
      }
    })();
    try {
      const response = await fetch(
        `http://127.0.0.1:${pprof}/debug/pprof/profile?seconds=3`,
      );
      assert.equal(response.status, 200);
      const profile = Profile.decode(
        gunzipSync(new Uint8Array(await response.arrayBuffer())),
      );
      stop = true;
      await load;
      assert.ok(replies > 500, `${replies} replies in 3 s`);
      const plugins = byPlugin(profile);
      const total = profile.sample.reduce((n, s) => n + Number(s.value[0]), 0);
      const report = [...plugins].map(([name, t]) =>
        `${name} ${(100 * t.total / total).toFixed(1)}% (self ${
          (100 * t.self / total).toFixed(1)
        }%)`
      ).join(", ");
      console.log(`plugins in the profile: ${report}`);
      for (const name of ["cache", "forward", "prometheus"]) {
        assert.ok(
          (plugins.get(name)?.total ?? 0) > 0,
          `${name} in the profile: ${report}`,
        );
      }
      // The frames are at the plugins' TypeScript files, with lines.
      const s = profile.stringTable.strings;
      const forwardFrames = profile.function.filter((f) =>
        s[Number(f.filename)]!.endsWith("/plugins/forward/mod.ts")
      );
      assert.ok(forwardFrames.length > 0);
      assert.ok(forwardFrames.some((f) => Number(f.startLine) > 0));
    } finally {
      stop = true;
      await load;
      socket.close();
      await server.stop();
      server.cleanup();
      await unbound.stop();
    }
  },
});
