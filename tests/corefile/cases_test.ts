// Runs every case of corefile-cases.jsonl (CoreDNS's exact outcomes,
// corefile.md §9) through parseCorefile → inspectServerBlocks →
// groupServers.
//
// Cases with stage "setup" fail inside a plugin's setup function, which is
// the plugin layer's job: tests/server/ checks those errors (and the
// `pprof` structure field). Here they only have to parse and inspect
// cleanly with the expected server blocks.

import assert from "node:assert/strict";
import {
  COREDNS_DIRECTIVES,
  CorefileError,
  groupServers,
  inspectServerBlocks,
  parseCorefile,
  type ServerBlock,
  type ZoneConfig,
} from "../../lib/corefile/mod.ts";

interface BlockShape {
  keys: string[];
  directives: Record<string, string[]>;
  "normalized_keys"?: string[];
}

interface Case {
  name: string;
  corefile: string;
  env?: Record<string, string>;
  files?: Record<string, string>;
  flags?: Record<string, string>;
  expect: "ok" | "error";
  "error_contains"?: string;
  "error_path_dependent"?: boolean;
  stage?: "parse" | "inspect" | "setup" | "makeservers";
  structure?: {
    "server_blocks"?: BlockShape[];
    servers?: string[];
    "used_default_input"?: boolean;
  };
}

const CASES: Case[] = Deno.readTextFileSync(
  new URL("./testdata/corefile-cases.jsonl", import.meta.url),
).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));

const DIRECTIVES = new Set(COREDNS_DIRECTIVES);

function shape(blocks: ServerBlock[], configs?: ZoneConfig[][]): BlockShape[] {
  return blocks.map((b, i) => {
    const s: BlockShape = {
      keys: b.keys,
      directives: Object.fromEntries(
        [...b.tokens].map(([name, toks]) => [name, toks.map((t) => t.text)]),
      ),
    };
    if (configs) s.normalized_keys = configs[i]!.map((c) => c.key);
    return s;
  });
}

function expectedShape(c: Case, withKeys: boolean): BlockShape[] | undefined {
  return c.structure?.server_blocks?.map((b) => {
    const s: BlockShape = { keys: b.keys, directives: b.directives };
    if (withKeys && b.normalized_keys) s.normalized_keys = b.normalized_keys;
    return s;
  });
}

function assertError(c: Case, fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(
    caught instanceof CorefileError,
    `expected CorefileError, got ${caught}`,
  );
  if (c.error_path_dependent) {
    assert.ok(
      caught.message.includes(c.error_contains!),
      `${JSON.stringify(caught.message)} lacks ${
        JSON.stringify(c.error_contains)
      }`,
    );
  } else {
    assert.equal(caught.message, c.error_contains);
  }
}

function runCase(c: Case): void {
  const dir = Deno.makeTempDirSync({ prefix: "corefile_case_" });
  try {
    Deno.writeTextFileSync(`${dir}/Corefile`, c.corefile);
    for (const [path, text] of Object.entries(c.files ?? {})) {
      const full = `${dir}/${path}`;
      Deno.mkdirSync(full.slice(0, full.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(full, text);
    }
    const env = c.env ?? {};
    const dnsPort = c.flags?.["dns.port"] ?? "53";
    const parse = (text: string) =>
      parseCorefile(text, {
        filename: "Corefile",
        dir,
        directives: DIRECTIVES,
        env: (name) => Object.hasOwn(env, name) ? env[name] : undefined,
        warn: () => {},
      });

    if (c.expect === "error" && c.stage === "parse") {
      assertError(c, () => parse(c.corefile));
      return;
    }
    let blocks = parse(c.corefile);
    if (c.structure?.used_default_input) {
      // The caller substitutes CoreDNS's default config; check that too.
      assert.deepEqual(blocks, []);
      blocks = parse(`.:${dnsPort} {\nwhoami\nlog\n}\n`);
    }
    if (c.expect === "error" && c.stage === "inspect") {
      const want = expectedShape(c, false);
      if (want) assert.deepEqual(shape(blocks), want);
      assertError(c, () => inspectServerBlocks(blocks, { dnsPort }));
      return;
    }
    const configs = inspectServerBlocks(blocks, { dnsPort });
    const want = expectedShape(c, true);
    if (want) {
      const withKeys = want.some((b) => b.normalized_keys);
      assert.deepEqual(shape(blocks, withKeys ? configs : undefined), want);
    }
    if (c.stage === "setup") return; // see the comment at the top
    if (c.expect === "error") {
      assert.equal(c.stage, "makeservers");
      assertError(c, () => groupServers(configs));
      return;
    }
    const servers = groupServers(configs).map((g) => g.address);
    if (c.structure?.servers) assert.deepEqual(servers, c.structure.servers);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("corefile-cases.jsonl: CoreDNS outcomes for every case", async (t) => {
  const passed = new Map<string, number>();
  const total = new Map<string, number>();
  for (const c of CASES) {
    const stage = c.stage ?? "ok";
    total.set(stage, (total.get(stage) ?? 0) + 1);
    const ok = await t.step(c.name, () => runCase(c));
    if (ok) passed.set(stage, (passed.get(stage) ?? 0) + 1);
  }
  const summary = [...total].map(([stage, n]) =>
    `${stage} ${passed.get(stage) ?? 0}/${n}`
  ).join(", ");
  // deno-lint-ignore no-console
  console.log(`cases passing per stage: ${summary}`);
  assert.equal(
    [...passed.values()].reduce((a, b) => a + b, 0),
    CASES.length,
  );
});
