/**
 * What `go tool pprof` shows about the program and its pseudo-frames:
 * saved profiles name the main binary (`File:`, `Build ID:`, the web UI's
 * title), and `-http`'s source view gives `[gc]`, `[program]`, native ops and
 * the native frame a block each instead of one merged `[v8]` line-0 block.
 */

import assert from "node:assert/strict";
import { basename } from "node:path";
import { goAvailable, MAIN, startCoredeno, waitFor } from "../_helpers.ts";
import { goPprofWebUi, goToolPprof } from "../_go.ts";
import { gunzipSync } from "node:zlib";
import { Profile } from "../../lib/deps.ts";
import { encodeProfile } from "../../lib/profile/encode.ts";
import { mainBinaryName } from "../../lib/profile/pprof.ts";
import { VERSION } from "../../lib/version.ts";
import { HITS, syntheticCpuProfile } from "./_synthetic_cpu.ts";

const hasGo = goAvailable();

/** One function block of the source view: name, file, flat and cum as shown. */
interface SourceBlock {
  name: string;
  file: string;
  flat: string;
  cum: string;
}

function sourceBlocks(html: string): SourceBlock[] {
  const unescape = (s: string) =>
    s.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll(
      "&#34;",
      '"',
    ).replaceAll("&#39;", "'").replaceAll("&amp;", "&");
  return [
    ...html.matchAll(
      /<h2>([^<]*)<\/h2><p class="filename">([^<]*)<\/p>\s*<pre[^>]*>\s*Total:\s+(\S+)\s+(\S+) \(flat, cum\)/g,
    ),
  ].map((m) => ({
    name: unescape(m[1]!),
    file: unescape(m[2]!),
    flat: m[3]!,
    cum: m[4]!,
  }));
}

/** The pseudo-frames of the synthetic profile: name → flat time shown. */
const PSEUDO: Record<string, { file: string; flat: string }> = {
  "[program]": { file: "[v8]/[program]", flat: `${HITS["(program)"]! * 10}ms` },
  "[gc]": { file: "[v8]/[gc]", flat: `${HITS["(garbage collector)"]! * 10}ms` },
  "op_net_send_udp": {
    file: "[v8]/op_net_send_udp",
    flat: `${HITS["op_net_send_udp"]! * 10}ms`,
  },
  "JSON.stringify": {
    file: "[v8]/JSON.stringify",
    flat: `${HITS["JSON.stringify"]! * 10}ms`,
  },
  "[native: Deno runtime/non-JS]": {
    file: "[deno]/[native: Deno runtime/non-JS]",
    flat: "30ms",
  },
};

Deno.test({
  name:
    "saved profiles name the main binary: File and Build ID in go tool pprof, the web UI's title",
  ignore: !hasGo,
  async fn(t) {
    const server = await startCoredeno(".:0 {\n    pprof 127.0.0.1:0\n}\n");
    const port = server.httpPort("pprof");
    const dir = await Deno.makeTempDir({ prefix: "coredeno-saved-" });
    try {
      const base = `http://127.0.0.1:${port}/debug/pprof`;
      const saved: Record<string, string> = {};
      for (
        const name of [
          "profile?seconds=1",
          "heap",
          "goroutine",
          "block",
          "mutex",
        ]
      ) {
        const response = await fetch(`${base}/${name}`);
        assert.equal(response.status, 200, name);
        const file = `${dir}/${name.replace(/\?.*/, "")}.pb.gz`;
        const bytes = new Uint8Array(await response.arrayBuffer());
        await Deno.writeFile(file, bytes);
        saved[name.replace(/\?.*/, "")] = file;

        // The mapping itself: coredeno's main module, its version, flags.
        const p = Profile.decode(gunzipSync(bytes));
        const s = p.stringTable.strings;
        assert.equal(p.mapping.length, 1, name);
        const m = p.mapping[0]!;
        assert.equal(s[Number(m.filename)], MAIN, name);
        assert.equal(s[Number(m.buildId)], VERSION, name);
        assert.equal(m.hasFunctions, true, name);
        assert.equal(m.hasFilenames, true, name);
        assert.equal(m.hasInlineFrames, false, name);
        assert.ok(
          p.location.every((l) => Number(l.mappingId) === Number(m.id)),
          name,
        );
        // Lines: said where some frame has one (heap's do; the goroutine's
        // one frame and the empty profiles have none).
        assert.equal(
          m.hasLineNumbers,
          p.location.some((l) => l.line.some((x) => Number(x.line) > 0)),
          name,
        );
        if (name !== "heap" && !name.startsWith("profile")) {
          assert.equal(m.hasLineNumbers, false, name);
        }
      }

      // The flag's true side, whatever an idle process has sampled so far:
      // serving heap profiles allocates, so a sample with lines soon appears.
      await waitFor("a heap sample with a line", async () => {
        const response = await fetch(`${base}/heap`);
        const p = Profile.decode(
          gunzipSync(new Uint8Array(await response.arrayBuffer())),
        );
        const withLine = p.location.some((l) =>
          l.line.some((x) => Number(x.line) > 0)
        );
        if (withLine) assert.equal(p.mapping[0]!.hasLineNumbers, true);
        return withLine;
      }, 20_000);

      await t.step(
        "go tool pprof -top: File and Build ID, no 'Main binary filename not available'",
        async () => {
          for (const [name, file] of Object.entries(saved)) {
            const r = await goToolPprof(["-top", file]);
            assert.equal(r.code, 0, r.stderr);
            assert.doesNotMatch(r.stderr, /Main binary filename not available/);
            assert.doesNotMatch(r.stderr, /symbolization/i);
            assert.match(r.stdout, /^File: main\.ts$/m, name);
            assert.match(
              r.stdout,
              new RegExp(`^Build ID: ${VERSION.replaceAll(".", "\\.")}$`, "m"),
              name,
            );
            if (name === "profile") {
              console.log(`go tool pprof -top ${name}.pb.gz:\n${r.stdout}`);
            }
          }
        },
      );

      await t.step(
        "go tool pprof -http: the title names the program",
        async () => {
          const ui = await goPprofWebUi(saved.profile!);
          try {
            for (const path of ["/ui/top", "/ui/flamegraph", "/ui/source"]) {
              const html = await ui.get(path);
              assert.match(html, /<title>main\.ts cpu<\/title>/, path);
            }
          } finally {
            await ui.stop();
          }
        },
      );
    } finally {
      await server.stop();
      server.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "go tool pprof -http's source view: each pseudo-frame and native op is a block of its own",
  ignore: !hasGo,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "coredeno-source-" });
    try {
      const p = await syntheticCpuProfile();
      const file = `${dir}/cpu.pb.gz`;
      await Deno.writeFile(file, await encodeProfile(p));

      await t.step(
        "as served: one block per pseudo-frame, with its own time",
        async () => {
          const ui = await goPprofWebUi(file);
          try {
            const html = await ui.get("/ui/source");
            assert.match(
              html,
              new RegExp(
                `<title>${
                  basename(mainBinaryName()).replaceAll(".", "\\.")
                } cpu</title>`,
              ),
            );
            const blocks = sourceBlocks(html);
            for (const [name, want] of Object.entries(PSEUDO)) {
              const mine = blocks.filter((b) => b.name === name);
              assert.equal(
                mine.length,
                1,
                `${name}: ${JSON.stringify(blocks)}`,
              );
              assert.equal(mine[0]!.file, want.file, name);
              assert.equal(mine[0]!.flat, want.flat, name);
              assert.equal(mine[0]!.cum, want.flat, name);
            }
            // The app's own functions are where they were.
            const handle = blocks.find((b) => b.name === "handle");
            assert.equal(handle?.file, "/srv/app/main.ts");
            assert.equal(handle?.flat, `${HITS.handle! * 10}ms`);
          } finally {
            await ui.stop();
          }
        },
      );

      await t.step(
        "contrast: with one shared [v8] file, the view merges them (why they each have one)",
        async () => {
          const shared = Profile.decode(gunzipSync(await Deno.readFile(file)));
          const s = shared.stringTable;
          for (const f of shared.function) {
            const name = s.strings[Number(f.filename)]!;
            if (name.startsWith("[v8]/")) f.filename = s.dedup("[v8]");
          }
          const merged = `${dir}/merged.pb.gz`;
          await Deno.writeFile(merged, await encodeProfile(shared));
          const ui = await goPprofWebUi(merged);
          try {
            const blocks = sourceBlocks(await ui.get("/ui/source"));
            const v8 = blocks.filter((b) => b.file === "[v8]");
            assert.equal(v8.length, 1, JSON.stringify(blocks));
            // All four [v8] frames' time under one (arbitrary) name.
            assert.equal(v8[0]!.flat, "170ms");
          } finally {
            await ui.stop();
          }
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
