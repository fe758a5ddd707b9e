import assert from "node:assert/strict";
import { correctMap } from "../../tools/bundle.ts";
import { lineOf, WORKLOAD } from "./_helpers.ts";

const CHILD = new URL("./testdata/raw_positions_child.ts", import.meta.url)
  .pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

Deno.test("source maps: without read access to DENO_DIR, raw positions, labelled", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-sys",
      "--allow-env",
      `--allow-read=${new URL(".", import.meta.url).pathname}`,
      CHILD,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout).trim());
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
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--sourcemap=external", "-o", out, CHILD],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(built.success, new TextDecoder().decode(built.stderr));
  const code = await Deno.readTextFile(out);
  const map = JSON.parse(await Deno.readTextFile(`${out}.map`));
  correctMap(code, map);
  const json = JSON.stringify(map);
  await Deno.remove(`${out}.map`);
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
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          "--allow-sys",
          "--allow-env",
          "--allow-read",
          // alpha must stay a frame of its own (feasibility.md §1)
          "--v8-flags=--no-turbo-inlining,--no-maglev-inlining",
          script,
        ],
        env: { DENO_DIR: `${dir}/deno_dir`, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const r = JSON.parse(new TextDecoder().decode(out.stdout).trim());
      assert.equal(r.file, WORKLOAD, JSON.stringify(r));
      const first = lineOf(WORKLOAD, "alpha");
      const last = lineOf(WORKLOAD, "beta") - 1;
      assert.ok(
        r.line >= first && r.line < last,
        `alpha at ${r.line}, not within its TypeScript lines ${first}-${last}`,
      );
      assert.ok(
        !r.comments.some((c: string) => c.startsWith("raw JS positions")),
        JSON.stringify(r.comments),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
