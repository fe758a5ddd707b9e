/**
 * A profiler that leaves the program alone leaves its test coverage alone:
 * a module tested with `deno test --coverage`, whose test serves pprof and
 * takes CPU and heap profiles, has the same coverage as without them
 * (captures switch no isolate-wide V8 mode, such as precise coverage).
 */

import assert from "node:assert/strict";
import { REPO } from "../_helpers.ts";

const PPROF = new URL("lib/pprof/mod.ts", REPO).href;

const MODULE = `export function covered(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += i % 7;
  return sum;
}

export function alsoCovered(text: string): string {
  return text.toUpperCase();
}

export function neverCalled(): string {
  return "not covered";
}
`;

const TEST = `import { alsoCovered, covered } from "./work.ts";
import { servePprof } from ${JSON.stringify(PPROF)};

Deno.test("work, profiled or not", async () => {
  const server = servePprof({ address: "127.0.0.1:0" });
  try {
    const capture = Deno.env.get("CAPTURE") === "1";
    const base = "http://127.0.0.1:" + server.addr.port + "/debug/pprof";
    const profile = capture ? fetch(base + "/profile?seconds=1") : undefined;
    const until = Date.now() + 1200;
    while (Date.now() < until) covered(10_000);
    alsoCovered("x");
    if (capture) {
      const response = await profile!;
      if (response.status !== 200) throw new Error(await response.text());
      await response.arrayBuffer();
      const heap = await fetch(base + "/heap");
      await heap.arrayBuffer();
    }
  } finally {
    await server.shutdown();
  }
});
`;

/** `deno test --coverage` of the module, then its lcov line counts. */
async function coverage(dir: string, capture: boolean): Promise<string> {
  const out = `${dir}/cov-${capture}`;
  const test = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--no-config",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-sys",
      `--coverage=${out}`,
      "work_test.ts",
    ],
    cwd: dir,
    env: { CAPTURE: capture ? "1" : "0", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.ok(test.success, decode(test.stdout) + decode(test.stderr));
  const report = await new Deno.Command(Deno.execPath(), {
    args: ["coverage", "--lcov", `--include=work\\.ts$`, out],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(report.success, decode(report.stderr));
  // The module's record: its line hits (DA) and totals (LF, LH).
  const lcov = decode(report.stdout);
  const record = lcov.split("end_of_record").find((r) =>
    r.includes(`SF:${dir}/work.ts`)
  );
  assert.ok(record, `work.ts is in the report:\n${lcov}`);
  // Counts follow the timed loop; what is compared is covered or not.
  return record.split("\n").filter((l) => /^(DA|LF|LH):/.test(l))
    .map((l) =>
      l.replace(/^(DA:\d+),(\d+)$/, (_, da, n) => `${da},${n === "0" ? 0 : 1}`)
    )
    .join("\n");
}

Deno.test("deno test --coverage: the same lines covered with and without CPU and heap captures", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-coverage-" });
  try {
    await Deno.writeTextFile(`${dir}/work.ts`, MODULE);
    await Deno.writeTextFile(`${dir}/work_test.ts`, TEST);
    const plain = await coverage(dir, false);
    const profiled = await coverage(dir, true);
    console.log(plain.split("\n").filter((l) => /^L[FH]:/.test(l)).join(" "));
    assert.equal(profiled, plain);
    assert.match(plain, /^LH:[1-9]/m, "some lines covered");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
