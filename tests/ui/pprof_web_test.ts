/**
 * `go tool pprof -http` (Go's own web UI, Graphviz for its graph) in
 * headless Chromium on our profiles: the title names the program, the graph
 * and flame graph draw, and the source view keeps pseudo-frames apart.
 * Driven by `_pprof_web.ts`; screenshots in tests/ui/out/pprof-*.png.
 */

import assert from "node:assert/strict";
import { basename } from "node:path";
import { CONFIG, startCoredeno } from "../_helpers.ts";
import { goPprofWebUi } from "../_go.ts";
import { encodeProfile } from "../../lib/profile/encode.ts";
import { mainBinaryName } from "../../lib/profile/pprof.ts";
import { syntheticCpuProfile } from "../pprof/_synthetic_cpu.ts";

const CHROMIUM = "/usr/bin/chromium";
const DRIVER = new URL("./_pprof_web.ts", import.meta.url).pathname;
const OUT = new URL("./out", import.meta.url).pathname;
const PROBE = new URL("./_chromium.ts", import.meta.url).pathname;

function has(command: string, args: string[]): boolean {
  try {
    new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

/** Why the test cannot run on this machine, if it cannot: a tool missing. */
async function missing(): Promise<string | undefined> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    return `${CHROMIUM} is missing (apt-get install -y chromium)`;
  }
  if (!has("go", ["version"])) {
    return "go is missing (apt-get install -y golang-go)";
  }
  if (!has("dot", ["-V"])) {
    return "Graphviz's dot is missing (apt-get install -y graphviz)";
  }
  const probe = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, "-A", PROBE, "--probe"],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  if (probe.code === 0) return undefined;
  const text = new TextDecoder().decode(probe.stdout) +
    new TextDecoder().decode(probe.stderr);
  return text.trim() || `the playwright-core probe exited with ${probe.code}`;
}

// Ignored, with the reason printed, where a tool is missing; with CI set
// (CI installs them all) the test runs and fails with that reason instead.
const MISSING = await missing();
const CI = Boolean(Deno.env.get("CI"));
if (MISSING !== undefined && !CI) {
  console.log(`SKIPPED: go tool pprof -http browser test: ${MISSING}`);
}

Deno.test({
  name:
    "go tool pprof -http in Chromium: the title names the program, pseudo-frames stay apart in the source view",
  ignore: MISSING !== undefined && !CI,
  fn: inChromium,
});

async function inChromium() {
  if (MISSING !== undefined) {
    throw new Error(
      `the pprof web UI test needs this when CI is set: ${MISSING}`,
    );
  }
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

    const driver = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--config",
        CONFIG,
        "-A",
        DRIVER,
        served.base,
        synthetic.base,
        OUT,
      ],
      stdin: "null",
      env: {
        NO_COLOR: "1",
        // This process made the synthetic profile: its main module names it.
        SYNTHETIC_TITLE: `${basename(mainBinaryName())} cpu`,
      },
    }).output();
    const stdout = new TextDecoder().decode(driver.stdout);
    const stderr = new TextDecoder().decode(driver.stderr);
    assert.equal(driver.code, 0, `${stdout}\n${stderr}`);
    assert.equal(stdout.match(/^ok /gm)?.length, 4, stdout);
    console.log(
      `${stdout.trim()}\nscreenshots: ${OUT}/pprof-{graph,flame,source}.png`,
    );
  } finally {
    for (const ui of uis) await ui.stop();
    await server.stop();
    server.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
}
