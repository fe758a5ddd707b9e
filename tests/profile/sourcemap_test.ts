import assert from "node:assert/strict";
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
