/**
 * Dependencies flow one way (DESIGN.md, Layout): no module of main.ts,
 * lib/, plugins/ or tools/ imports itself through others. Deno's own module
 * graph (`deno info --json`) is searched for strongly connected components.
 */

import assert from "node:assert/strict";
import { REPO } from "./_helpers.ts";

const FOLDERS = ["lib", "plugins", "tools"];

/** Every .ts module under the folders, and main.ts. */
async function modules(): Promise<URL[]> {
  const found = [new URL("main.ts", REPO)];
  async function walk(dir: URL) {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith(".ts")) found.push(new URL(entry.name, dir));
    }
  }
  for (const folder of FOLDERS) await walk(new URL(`${folder}/`, REPO));
  return found;
}

/** The file: import graph reachable from `roots` (value and type imports). */
async function graph(roots: URL[]): Promise<Map<string, string[]>> {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-imports-" });
  try {
    const root = `${dir}/all.ts`;
    await Deno.writeTextFile(
      root,
      roots.map((url) => `import "${url.href}";\n`).join(""),
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "info",
        "--json",
        "--config",
        new URL("deno.json", REPO).pathname,
        root,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: {
          code?: { specifier?: string };
          type?: { specifier?: string };
        }[];
      }[];
    };
    const edges = new Map<string, string[]>();
    for (const module of info.modules) {
      if (!module.specifier.startsWith(REPO.href)) continue;
      edges.set(
        module.specifier,
        (module.dependencies ?? [])
          .flatMap((d) => [d.code?.specifier, d.type?.specifier])
          .filter((s): s is string => s?.startsWith(REPO.href) ?? false),
      );
    }
    return edges;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Tarjan's strongly connected components of more than one module (or a self-import). */
function cycles(edges: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  function visit(v: string) {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w.slice(REPO.href.length));
    } while (w !== v);
    if (component.length > 1 || edges.get(v)?.includes(v)) {
      found.push(component.sort());
    }
  }
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

Deno.test("cycles() finds a circle and only the circle", () => {
  assert.deepEqual(
    cycles(
      new Map([
        [`${REPO.href}a.ts`, [`${REPO.href}b.ts`]],
        [`${REPO.href}b.ts`, [`${REPO.href}c.ts`, `${REPO.href}d.ts`]],
        [`${REPO.href}c.ts`, [`${REPO.href}a.ts`]],
        [`${REPO.href}d.ts`, []],
      ]),
    ),
    [["a.ts", "b.ts", "c.ts"]],
  );
});

Deno.test("no import circle in main.ts, lib/, plugins/, tools/", async () => {
  const roots = await modules();
  const edges = await graph(roots);
  // Every module was seen: the graph is the whole tree, not a part of it.
  for (const root of roots) assert.ok(edges.has(root.href), root.href);
  assert.deepEqual(cycles(edges), []);
});
