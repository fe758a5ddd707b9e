import assert from "node:assert/strict";
import {
  GREATEST_LOWER_BOUND,
  LEAST_UPPER_BOUND,
  originalPositionFor,
  TraceMap,
} from "../../lib/deps.ts";
import { ChunkedMap, LAZY_ABOVE } from "../../lib/profile/chunked_map.ts";
import { denoJson, lineOf, WORKLOAD } from "./_helpers.ts";
import { buildBundle, bundleWithMap } from "../_helpers.ts";

const CHILD = new URL("./testdata/raw_positions_child.ts", import.meta.url)
  .pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** `deno run` for the child, outside this config, with V8's defaults (inlining on). */
const RUN_CHILD = [
  "run",
  "--no-config",
  "--allow-sys",
  "--allow-env",
  "--allow-read",
];

/** The child's `alpha` frame is at `file`, within alpha's TypeScript lines, through a source map. */
// deno-lint-ignore no-explicit-any
function assertAlphaAtTypeScript(r: any, file: string) {
  assert.equal(r.file, file, JSON.stringify(r));
  const first = lineOf(file, "alpha");
  const last = lineOf(file, "beta") - 1;
  assert.ok(
    r.line >= first && r.line < last,
    `alpha at ${r.line}, not within its TypeScript lines ${first}-${last}`,
  );
  assert.ok(
    !r.comments.some((c: string) => c.startsWith("raw JS positions")),
    JSON.stringify(r.comments),
  );
}

Deno.test("source maps: without read access to DENO_DIR, raw positions, labelled", async () => {
  const r = await denoJson([
    "run",
    "--config",
    CONFIG,
    "--allow-sys",
    "--allow-env",
    `--allow-read=${new URL(".", import.meta.url).pathname}`,
    CHILD,
  ]);
  assert.equal(r.file, WORKLOAD);
  assert.ok(r.line > 0);
  assert.notEqual(r.line, lineOf(WORKLOAD, "alpha"), "JS line, not TS");
  assert.ok(
    r.comments.some((c: string) =>
      c.startsWith(`raw JS positions: ${WORKLOAD}: `)
    ),
    JSON.stringify(r.comments),
  );
});

/**
 * The child bundled into `dir/child.js` (map corrected as `deno task bundle`
 * does), its map offered one of three ways: named by a
 * `//# sourceMappingURL=` comment, beside it as `child.js.map`, or inline.
 */
async function bundleChild(dir: string, how: "linked" | "beside" | "inline") {
  const out = `${dir}/child.js`;
  const { code, map: json } = await bundleWithMap(CHILD, out);
  if (how === "linked") {
    await Deno.writeTextFile(
      out,
      `${code}//# sourceMappingURL=child.js.map\n`,
    );
    await Deno.writeTextFile(`${out}.map`, json);
  } else if (how === "beside") {
    await Deno.writeTextFile(`${out}.map`, json);
  } else {
    const base64 = btoa(
      Array.from(new TextEncoder().encode(json), (b) => String.fromCharCode(b))
        .join(""),
    );
    await Deno.writeTextFile(
      out,
      `${code}//# sourceMappingURL=data:application/json;base64,${base64}\n`,
    );
  }
  return out;
}

for (const how of ["linked", "beside", "inline"] as const) {
  Deno.test(`source maps: a bundle with its map ${how} shows TypeScript lines without Deno's emit cache`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "coredeno-bundle-map-" });
    try {
      const script = await bundleChild(dir, how);
      await Deno.mkdir(`${dir}/deno_dir`);
      const r = await denoJson(
        [...RUN_CHILD, script],
        { DENO_DIR: `${dir}/deno_dir`, NO_COLOR: "1" },
      );
      assertAlphaAtTypeScript(r, WORKLOAD);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const change of ["touch", "edit"] as const) {
  Deno.test(`source maps: a bundle whose file changed after it was loaded (${change}) is checked against V8's hash`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "coredeno-bundle-map-" });
    try {
      const script = await bundleChild(dir, "linked");
      const r = await denoJson(
        [...RUN_CHILD, `--allow-write=${script}`, script],
        { CHANGE_SELF: change, NO_COLOR: "1" },
      );
      if (change === "touch") {
        // Same code: V8's hash proves the map still fits.
        assert.equal(r.file, WORKLOAD, JSON.stringify(r));
      } else {
        assert.equal(r.file, script, JSON.stringify(r));
        assert.ok(
          r.comments.includes(
            `raw JS positions: ${script}: ${script} changed since it was loaded`,
          ),
          JSON.stringify(r.comments),
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("source maps: a TypeScript module changed after it was loaded is checked against V8's hash of its emit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-emit-map-" });
  try {
    // A copy of the child and its workload, so touching them disturbs no one.
    const workload = `${dir}/workload.ts`;
    await Deno.copyFile(WORKLOAD, workload);
    const child = (await Deno.readTextFile(CHILD)).replace(
      "../../../lib/profile/mod.ts",
      new URL("../../lib/profile/mod.ts", import.meta.url).href,
    );
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      child.replace(
        'const change = Deno.env.get("CHANGE_SELF");',
        "await Deno.utime(new URL('./workload.ts', import.meta.url), " +
          "new Date(), new Date(Date.now() + 60_000));\n" +
          'const change = Deno.env.get("CHANGE_SELF");',
      ),
    );
    const r = await denoJson(
      [...RUN_CHILD, `--allow-write=${workload}`, `${dir}/child.ts`],
      { NO_COLOR: "1" },
    );
    assertAlphaAtTypeScript(r, workload);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("source maps: the bundle's map read in chunks answers as trace-mapping does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-chunked-map-" });
  try {
    await buildBundle(dir);
    const text = await Deno.readTextFile(`${dir}/coredeno.js.map`);
    const raw = JSON.parse(text);
    assert.ok(raw.mappings.length > LAZY_ABOVE, "a map big enough to chunk");
    const base = `file://${dir}/coredeno.js.map`;
    const chunked = new ChunkedMap(raw, base);
    const whole = new TraceMap(text, base);
    const lines = raw.mappings.split(";").length;
    let compared = 0;
    for (let line = 1; line <= lines + 1; line++) {
      for (const column of [0, 1, 7, 30, 120]) {
        for (const bias of [GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND] as const) {
          const needle = { line, column, bias };
          assert.deepEqual(
            chunked.originalPositionFor(needle),
            originalPositionFor(whole, needle),
            JSON.stringify(needle),
          );
          compared++;
        }
      }
    }
    assert.ok(compared > 100_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
