/**
 * `go tool pprof -http` (Go's own web UI, Graphviz for its graph) in
 * headless Chromium on our profiles: the title names the program, the graph
 * and flame graph draw, and the source view keeps pseudo-frames apart.
 * Driven by `_pprof_web.ts`; screenshots in tests/ui/out/pprof-*.png.
 */

import assert from "node:assert/strict";
import { basename } from "node:path";
import { startCoredeno } from "../_helpers.ts";
import { browserTest } from "./_browser.ts";
import { goPprofWebUi } from "../_go.ts";
import { encodeProfile } from "../../lib/profile/encode.ts";
import { mainBinaryName } from "../../lib/profile/pprof.ts";
import { syntheticCpuProfile } from "../pprof/_synthetic_cpu.ts";

const OUT = new URL("./out", import.meta.url).pathname;

function has(command: string, args: string[]): boolean {
  try {
    new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

await browserTest({
  name:
    "go tool pprof -http in Chromium: the title names the program, pseudo-frames stay apart in the source view",
  what: "go tool pprof -http browser test",
  driver: new URL("./_pprof_web.ts", import.meta.url).pathname,
  steps: 4,
  more() {
    if (!has("go", ["version"])) {
      return "go is missing (apt-get install -y golang-go)";
    }
    if (!has("dot", ["-V"])) {
      return "Graphviz's dot is missing (apt-get install -y graphviz)";
    }
  },
}, async (drive) => {
  await Deno.mkdir(OUT, { recursive: true });
  const dir = await Deno.makeTempDir({ prefix: "pprof-web-" });
  const server = await startCoredeno(".:0 {\n    pprof 127.0.0.1:0\n}\n");
  const port = server.httpPort("pprof");
  const uis: { stop(): Promise<void> }[] = [];
  try {
    const response = await fetch(
      `http://127.0.0.1:${port}/debug/pprof/profile?seconds=1`,
    );
    assert.equal(response.status, 200);
    await Deno.writeFile(
      `${dir}/served.pb.gz`,
      new Uint8Array(await response.arrayBuffer()),
    );
    await Deno.writeFile(
      `${dir}/synthetic.pb.gz`,
      await encodeProfile(await syntheticCpuProfile()),
    );
    const served = await goPprofWebUi(`${dir}/served.pb.gz`);
    uis.push(served);
    const synthetic = await goPprofWebUi(`${dir}/synthetic.pb.gz`);
    uis.push(synthetic);

    const stdout = await drive([served.base, synthetic.base, OUT], {
      // This process made the synthetic profile: its main module names it.
      SYNTHETIC_TITLE: `${basename(mainBinaryName())} cpu`,
    });
    console.log(
      `${stdout.trim()}\nscreenshots: ${OUT}/pprof-{graph,flame,source}.png`,
    );
  } finally {
    for (const ui of uis) await ui.stop();
    await server.stop();
    server.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});
