/**
 * Every case of corefile-cases.jsonl through the whole load, as `main.ts`
 * runs it: parse → default fallback → inspect → plugin setup (the real
 * plugins) → servers. Same structure or the same error text as CoreDNS,
 * except the deliberate differences listed below with their reason.
 */

import assert from "node:assert/strict";
import { Dispenser } from "../../lib/corefile/mod.ts";
import { loadInstance } from "../../lib/server/instance.ts";
import { setLogSink } from "../../lib/log.ts";
import { DIRECTIVES, PLUGINS } from "../../plugins/mod.ts";
import { parsePprof } from "../../plugins/pprof/setup.ts";
import { tempFiles } from "../_helpers.ts";

interface Case {
  name: string;
  corefile: string;
  expect: "ok" | "error";
  env?: Record<string, string>;
  files?: Record<string, string>;
  flags?: Record<string, string>;
  "error_contains"?: string;
  "error_path_dependent"?: boolean;
  stage?: string;
  structure?: {
    "server_blocks"?: {
      keys: string[];
      "normalized_keys"?: string[];
      directives: Record<string, string[]>;
    }[];
    servers?: string[];
    pprof?: { addr: string; block_rate: number }[];
    "used_default_input"?: boolean;
  };
}

/** Where DESIGN.md deliberately follows the pprof README instead of CoreDNS's code. */
const DIFFERENCES: Record<string, { error: string; why: string }> = {
  "pprof-block-zero-accepted": {
    error:
      "plugin/pprof: Corefile:3 - Error during parsing: property 'block' invalid value '0': " +
      "RATE must be a positive integer",
    why:
      "the README says RATE must be positive; CoreDNS silently turns block profiling off",
  },
  "pprof-block-negative-accepted": {
    error:
      "plugin/pprof: Corefile:3 - Error during parsing: property 'block' invalid value '-5': " +
      "RATE must be a positive integer",
    why:
      "the README says RATE must be positive; CoreDNS silently turns block profiling off",
  },
};

const CASES: Case[] = Deno.readTextFileSync(
  new URL("../corefile/testdata/corefile-cases.jsonl", import.meta.url),
)
  .split("\n").filter((line) => line.trim() !== "").map((line) =>
    JSON.parse(line)
  );

function loadCase(c: Case) {
  const files = tempFiles({ Corefile: c.corefile, ...c.files });
  try {
    return loadInstance(c.corefile, {
      filename: "Corefile",
      dir: files.dir,
      directives: DIRECTIVES,
      plugins: PLUGINS,
      dnsPort: c.flags?.["dns.port"] ?? "53",
      env: (name) => c.env?.[name],
    });
  } finally {
    files.cleanup();
  }
}

Deno.test("corefile-cases.jsonl: every case loads as CoreDNS's does", async (t) => {
  const restore = setLogSink(() => {});
  const counts = { ok: 0, error: 0, different: 0 };
  try {
    for (const c of CASES) {
      await t.step(c.name, () => {
        const difference = DIFFERENCES[c.name];
        if (difference) {
          assert.throws(() => loadCase(c), { message: difference.error });
          counts.different++;
          return;
        }
        if (c.expect === "error") {
          assert.throws(() => loadCase(c), (error: Error) => {
            if (c.error_path_dependent) {
              assert.ok(
                error.message.includes(c.error_contains!),
                error.message,
              );
            } else assert.equal(error.message, c.error_contains);
            return true;
          });
          counts.error++;
          return;
        }
        const instance = loadCase(c);
        const expected = c.structure!;
        if (expected.server_blocks) {
          assert.deepEqual(
            instance.blocks.map((b) => ({
              keys: b.keys,
              directives: Object.fromEntries(
                [...b.tokens].map(([name, tokens]) => [
                  name,
                  tokens.map((t) => t.text),
                ]),
              ),
            })),
            expected.server_blocks.map((b) => ({
              keys: b.keys,
              directives: b.directives,
            })),
          );
          assert.deepEqual(
            instance.zones.map((zones) => zones.map((z) => z.key)),
            expected.server_blocks.map((b) => b.normalized_keys),
          );
        }
        if (expected.servers) {
          assert.deepEqual(
            instance.servers.map((s) => s.address),
            expected.servers,
          );
        }
        assert.equal(
          instance.usedDefaultInput,
          expected.used_default_input ?? false,
        );
        if (expected.pprof) {
          const configs = instance.blocks.flatMap((b) => {
            const tokens = b.tokens.get("pprof");
            return tokens
              ? [parsePprof(new Dispenser("Corefile", tokens))]
              : [];
          });
          assert.deepEqual(
            configs.map((p) => ({ addr: p.address, block_rate: p.blockRate })),
            expected.pprof,
          );
        }
        counts.ok++;
      });
    }
  } finally {
    setLogSink(restore);
  }
  console.log(
    `corefile cases: ${counts.ok} load as CoreDNS, ${counts.error} fail with CoreDNS's exact error, ` +
      `${counts.different} deliberately differ (of ${CASES.length})`,
  );
});
