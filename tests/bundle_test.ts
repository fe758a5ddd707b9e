/**
 * The bundle (`deno task bundle`) is a distributable: it runs with an empty
 * DENO_DIR (its npm packages are inside), and its profiles show coredeno's
 * own frames at TypeScript files and lines, through the map beside it, not
 * through Deno's emit cache (an empty DENO_DIR has none). The checks are
 * tools/smoke.ts's, which the release workflow runs on each executable.
 */

import assert from "node:assert/strict";
import { smoke } from "../tools/smoke.ts";
import { buildBundle, goAvailable, REPO } from "./_helpers.ts";

const hasGo = goAvailable();
const ROOT = REPO.pathname.replace(/\/$/, "");

Deno.test({
  name:
    "the bundle runs with an empty DENO_DIR and its CPU profiles show TypeScript lines (go tool pprof -top -lines)",
  ignore: !hasGo,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "coredeno-bundle-" });
    try {
      const r = await smoke(await buildBundle(dir), { repo: ROOT });
      assert.match(r.version, /^coredeno-/);
      // Resolved beside the map, the sources are this checkout's files.
      assert.ok(r.own.every((row) => row.includes(`${ROOT}/`)), r.top);
      console.log(r.own.slice(0, 12).join("\n"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
