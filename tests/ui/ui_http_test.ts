/**
 * `/debug/pprof/ui/` over a real socket against the known workload: the
 * page and its assets are self-contained; a link takes a profile and keeps
 * it under an id; each view's data (flame tree, top table, source lines,
 * Markdown, the profile itself) is right, narrowed by label and set against
 * a base; source text is shown only for this process's own files; bad
 * requests get Go's errors.
 */

import assert from "node:assert/strict";
import {
  captured,
  CONFIG,
  START_PERMISSIONS,
  startWorkload,
  waitFor,
} from "../_helpers.ts";
import {
  decodeProfile,
  type FlameTree,
  type TopRow,
} from "../../lib/pprof/ui/analysis.ts";
import { denoDir } from "../../lib/profile/sourcemap.ts";
import { diffPair, labelledProfile, profileBytes } from "./_profiles.ts";

const WORKLOAD = new URL("../pprof/fixtures/workload.ts", import.meta.url)
  .pathname;

interface FlameJson {
  title: string;
  total: number;
  sampleTypes: { type: string; unit: string }[];
  index: number;
  labels: { key: string; values: { value: string; total: number }[] }[];
  base?: { title: string; total: number };
  tree: FlameTree;
}

interface SourceJson {
  file: string;
  files: { file: string }[];
  from?: string;
  reason?: string;
  text?: string[];
  lines: { line: number; name: string; flat: number; cum: number }[];
}

/** The summed value of the nodes named `name`. */
function valueOf(tree: FlameJson["tree"], name: string): number {
  let sum = 0;
  tree.func.forEach((f, i) => {
    if (f >= 0 && tree.funcs[f]![0] === name) sum += tree.value[i]!;
  });
  return sum;
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  const text = await response.text();
  assert.equal(response.status, 200, `${url}: ${text}`);
  assert.equal(
    response.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  return JSON.parse(text) as T;
}

/** Keeps `bytes` in the viewer (`POST ui/load`); returns the id. */
async function upload(ui: string, bytes: Uint8Array, name = "upload.pb.gz") {
  const kept = await getJson<{ id: string; title: string; source: string }>(
    `${ui}/load?name=${name}`,
    { method: "POST", body: bytes as Uint8Array<ArrayBuffer> },
  );
  assert.equal(kept.title, name);
  assert.equal(kept.source, "upload");
  assert.match(kept.id, /^[0-9a-f]{12}$/);
  return kept.id;
}

Deno.test("pprof ui: links, kept profiles and each view's data", async (t) => {
  const workload = await startWorkload();
  const ui = `${workload.base}/debug/pprof/ui`;
  try {
    // First, before this process took any profile of itself: no file it
    // names is read, whatever an uploaded profile says.
    await t.step(
      "source: files an uploaded profile names are never read",
      async () => {
        const id = await upload(
          ui,
          profileBytes([
            { frames: [["secret", "/etc/passwd", 1]], values: [1, 10] },
            { frames: [["work", WORKLOAD, 32]], values: [1, 10] },
            { frames: [["up", "../../../etc/passwd.ts", 1]], values: [1, 10] },
          ]),
        );
        for (
          const file of [WORKLOAD, "/etc/passwd", "../../../etc/passwd.ts"]
        ) {
          const source = await getJson<SourceJson>(
            `${ui}/source.json?id=${id}&file=${encodeURIComponent(file)}`,
          );
          assert.equal(source.text, undefined, file);
          assert.match(
            source.reason ?? "",
            /^source not available: not a file of a profile this process took of itself/,
          );
        }
        // A file that is in no profile at all: not even its costs.
        const other = await fetch(
          `${ui}/source.json?id=${id}&file=${encodeURIComponent(CONFIG)}`,
        );
        assert.equal(other.status, 404);
        assert.match(
          await other.text(),
          /^no line of .*deno\.json is in this profile\n$/,
        );
      },
    );

    await t.step("ui redirects (301) to ui/, keeping the query", async () => {
      const response = await fetch(`${ui}?type=heap`, { redirect: "manual" });
      assert.equal(response.status, 301);
      assert.equal(
        response.headers.get("location"),
        "/debug/pprof/ui/?type=heap",
      );
      await response.body?.cancel();
    });

    await t.step("the index links each profile into the viewer", async () => {
      const html = await (await fetch(`${workload.base}/debug/pprof/`)).text();
      assert.match(
        html,
        /Views in the browser: <a href='ui\/'>ui\/<\/a>: <a href='ui\/\?type=profile&amp;seconds=10'>profile<\/a> <a href='ui\/\?type=heap'>heap<\/a> <a href='ui\/\?type=allocs'>allocs<\/a> <a href='ui\/\?type=block'>block<\/a>/,
      );
      assert.match(html, /<a href='ui\/'>ui<\/a>: <\/div> The profiles above/);
      assert.doesNotMatch(html, /ui\?debug=1/, "not listed as a profile");
    });

    await t.step("the page and its scripts: same origin only", async () => {
      const response = await fetch(`${ui}/`);
      assert.equal(response.status, 200);
      assert.equal(
        response.headers.get("content-type"),
        "text/html; charset=utf-8",
      );
      assert.match(
        response.headers.get("content-security-policy") ?? "",
        /^default-src 'self';/,
      );
      const html = await response.text();
      assert.match(html, /<script type="module" src="viewer.js"><\/script>/);
      assert.match(html, /<option value="profile">profile<\/option>/);
      assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
      for (const name of ["viewer.js", "flame.js", "tables.js", "format.js"]) {
        const js = await fetch(`${ui}/${name}`);
        assert.equal(
          js.headers.get("content-type"),
          "text/javascript; charset=utf-8",
          name,
        );
        const source = await js.text();
        assert.doesNotMatch(source, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
        // Each module imports only its siblings.
        for (const m of source.matchAll(/from "([^"]+)"/g)) {
          assert.match(m[1]!, /^\.\/\w+\.js$/, `${name} imports ${m[1]}`);
        }
      }
      const css = await fetch(`${ui}/viewer.css`);
      assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
      await css.body?.cancel();
    });

    let cpu = "";
    await t.step(
      "load?type=profile takes and keeps a CPU profile; its flame tree has alpha hottest",
      async () => {
        const kept = await getJson<
          { id: string; title: string; query: string }
        >(
          `${ui}/load?type=profile&seconds=2`,
        );
        assert.equal(kept.title, "CPU profile of 2 s");
        assert.equal(kept.query, "seconds=2");
        cpu = kept.id;
        const flame = await getJson<FlameJson>(`${ui}/flame.json?id=${cpu}`);
        assert.deepEqual(flame.sampleTypes[flame.index], {
          type: "cpu",
          unit: "nanoseconds",
        });
        assert.equal(flame.tree.func[0], -1, "the root comes first");
        assert.equal(flame.tree.value[0], flame.total);
        assert.ok(
          valueOf(flame.tree, "alpha") > valueOf(flame.tree, "beta"),
          "alpha burns more than beta (about 3x)",
        );
        const alpha = flame.tree.funcs.find(([name]) => name === "alpha");
        assert.equal(alpha?.[1], WORKLOAD);
        const kept2 = await getJson<{ id: string }[]>(`${ui}/kept.json`);
        assert.equal(kept2[0]!.id, cpu, "newest first");
      },
    );

    await t.step("top.json: alpha first, at its hot line", async () => {
      const top = await getJson<{ rows: TopRow[] }>(
        `${ui}/top.json?id=${cpu}`,
      );
      const alpha = top.rows[0]!;
      assert.equal(alpha.name, "alpha");
      assert.equal(alpha.file, WORKLOAD);
      assert.equal(alpha.line, hotLine("alpha"));
      assert.ok(alpha.flat > 0 && alpha.cum >= alpha.flat);
    });

    await t.step(
      "source.json: the hottest line's file from disk, alpha's hot line costliest",
      async () => {
        const source = await getJson<SourceJson>(`${ui}/source.json?id=${cpu}`);
        assert.equal(source.file, WORKLOAD, "the hottest line's file");
        assert.equal(source.from, "file");
        assert.equal(source.text?.length, (await readLines(WORKLOAD)).length);
        const hottest = [...source.lines].sort((a, b) => b.flat - a.flat)[0]!;
        assert.equal(hottest.line, hotLine("alpha"));
        assert.equal(hottest.name, "alpha");
        assert.match(source.text![hottest.line - 1]!, /\/\/ hot$/);
        assert.ok(source.files.some((f) => f.file === WORKLOAD));
        // Now that this process profiled itself, its file is shown where an
        // upload names it too; other files still are not.
        const id = await upload(
          ui,
          profileBytes([
            { frames: [["work", WORKLOAD, 32]], values: [1, 10] },
            { frames: [["secret", "/etc/passwd", 1]], values: [1, 10] },
          ]),
        );
        const again = await getJson<SourceJson>(
          `${ui}/source.json?id=${id}&file=${encodeURIComponent(WORKLOAD)}`,
        );
        assert.equal(again.from, "file");
        const passwd = await getJson<SourceJson>(
          `${ui}/source.json?id=${id}&file=%2Fetc%2Fpasswd`,
        );
        assert.equal(passwd.text, undefined);
      },
    );

    await t.step("report.md: Markdown with the hot line's code", async () => {
      const response = await fetch(`${ui}/report.md?id=${cpu}`);
      assert.equal(
        response.headers.get("content-type"),
        "text/markdown; charset=utf-8",
      );
      const md = await response.text();
      assert.match(md, /^# CPU profile of 2 s\n/);
      assert.match(
        md,
        new RegExp(
          `## Hottest lines\\n\\n.*\\n.*\\n\\| [\\d.]+m?s \\| [\\d.]+% \\| [\\d.]+m?s \\| \`${WORKLOAD}:${
            hotLine("alpha")
          }\` \\| \`alpha\` \\| \`for \\(let i = 0; i < 20_000; i\\+\\+\\) x = \\(x \\* 1\\.000001 \\+ i\\) % 1e9; // hot\` \\|`,
        ),
      );
    });

    await t.step("load?type=heap: retainMemory holds its 64 MiB", async () => {
      const kept = await getJson<{ id: string }>(`${ui}/load?type=heap`);
      const flame = await getJson<FlameJson>(`${ui}/flame.json?id=${kept.id}`);
      assert.equal(flame.sampleTypes[flame.index]!.type, "inuse_space");
      assert.ok(valueOf(flame.tree, "retainMemory") > 32 * 2 ** 20);
      const objects = await getJson<FlameJson>(
        `${ui}/flame.json?id=${kept.id}&sample=inuse_objects`,
      );
      assert.equal(objects.sampleTypes[objects.index]!.type, "inuse_objects");
      assert.ok(objects.total < flame.total, "objects, not bytes");
    });

    await t.step(
      "labels: the selector narrows every view and the saved profile",
      async () => {
        const id = await upload(ui, labelledProfile(), "isolates.pb.gz");
        const all = await getJson<FlameJson>(`${ui}/flame.json?id=${id}`);
        assert.deepEqual(all.labels, [{
          key: "isolate",
          values: [
            { value: "worker:1", total: 500e6 },
            { value: "main", total: 400e6 },
          ],
        }]);
        const worker = await getJson<FlameJson>(
          `${ui}/flame.json?id=${id}&label=isolate%3Dworker%3A1`,
        );
        assert.equal(worker.total, 500e6);
        assert.equal(valueOf(worker.tree, "handle"), 0);
        assert.equal(valueOf(worker.tree, "crunch"), 500e6);
        const top = await getJson<{ rows: TopRow[] }>(
          `${ui}/top.json?id=${id}&label=isolate%3Dmain`,
        );
        assert.deepEqual(top.rows.map((r) => r.name), [
          "handle",
          "parse",
          "main",
        ]);
        const saved = await fetch(
          `${ui}/profile.pb.gz?id=${id}&label=isolate%3Dmain&sample=samples`,
        );
        assert.match(
          saved.headers.get("content-disposition") ?? "",
          /^attachment; filename="upload-[0-9a-f]{12}\.pb\.gz"$/,
        );
        const profile = decodeProfile(
          new Uint8Array(await saved.arrayBuffer()),
        );
        assert.equal(profile.sample.length, 2, "the main isolate's samples");
        assert.equal(
          profile.stringTable.strings[Number(profile.defaultSampleType)],
          "samples",
          "the chosen type is the default, for speedscope",
        );
      },
    );

    await t.step(
      "base: a function added since shows as grown, in the tree and the table",
      async () => {
        const pair = diffPair();
        const base = await upload(ui, pair.base, "base.pb.gz");
        const now = await upload(ui, pair.now, "now.pb.gz");
        const flame = await getJson<FlameJson>(
          `${ui}/flame.json?id=${now}&base=${base}`,
        );
        assert.equal(flame.base?.title, "base.pb.gz");
        assert.equal(flame.base?.total, 500e6);
        const i = flame.tree.func.findIndex((f) =>
          flame.tree.funcs[f]?.[0] === "added"
        );
        assert.deepEqual([flame.tree.value[i], flame.tree.base?.[i]], [
          250e6,
          0,
        ]);
        const top = await getJson<{ rows: TopRow[] }>(
          `${ui}/top.json?id=${now}&base=${base}`,
        );
        assert.deepEqual(
          [top.rows[0]!.name, top.rows[0]!.baseCum, top.rows[0]!.cum],
          ["added", 0, 250e6],
        );
        const md = await (await fetch(`${ui}/report.md?id=${now}&base=${base}`))
          .text();
        assert.match(
          md,
          /### Grew\n\n.*\n.*\n\| \+250\.00ms \| \+250\.00ms \| new \|/,
        );
      },
    );

    await t.step("speedscope's release build is served, offline", async () => {
      const page = await fetch(`${ui}/speedscope/`);
      assert.equal(page.status, 200);
      assert.match(
        page.headers.get("content-security-policy") ?? "",
        /^default-src 'self'; script-src 'self' 'wasm-unsafe-eval';/,
      );
      assert.match(await page.text(), /<script src="speedscope.js"><\/script>/);
      const js = await fetch(`${ui}/speedscope/speedscope.js`);
      assert.ok((await js.text()).includes("speedscope"));
      const css = await (await fetch(`${ui}/speedscope/speedscope.css`)).text();
      assert.doesNotMatch(css, /@font-face/, "the font is not embedded");
      const bare = await fetch(`${ui}/speedscope`, { redirect: "manual" });
      assert.equal(bare.status, 301);
      await bare.body?.cancel();
    });

    await t.step(
      "errors are Go-style text: the source's own, or ours",
      async () => {
        const cases: [string, RequestInit, number, RegExp][] = [
          ["load?type=nosuch", {}, 400, /^invalid value for "type"/],
          ["load", {}, 400, /^invalid value for "type"/],
          ["load?type=profile&hz=0", {}, 400, /^invalid value for "hz"/],
          [
            "load",
            { method: "POST", body: "junk" },
            400,
            /^could not read profile: not a pprof profile/,
          ],
          ["load", { method: "POST" }, 400, /^empty body/],
          ["flame.json", {}, 400, /^missing "id": a kept profile's id/],
          [
            "top.json?id=000000000000",
            {},
            404,
            /^profile 000000000000 is no longer kept/,
          ],
          [
            `top.json?id=${cpu}&sample=nosuch`,
            {},
            400,
            /^invalid value for "sample" - must be one of samples, cpu/,
          ],
          [
            `top.json?id=${cpu}&label=nokey`,
            {},
            400,
            /^invalid value for "label" - want KEY=VALUE/,
          ],
          [
            `top.json?id=${cpu}&base=000000000000`,
            {},
            404,
            /^profile 000000000000 is no longer kept/,
          ],
          ["nosuch", {}, 404, /^404 page not found/],
          ["speedscope/nosuch.js", {}, 404, /^404 page not found/],
          ["", { method: "POST" }, 405, /^Method Not Allowed/],
          ["load", { method: "PUT" }, 405, /^Method Not Allowed/],
        ];
        for (const [path, init, status, body] of cases) {
          const response = await fetch(`${ui}/${path}`, init);
          const text = await response.text();
          assert.equal(response.status, status, `${path}: ${text}`);
          assert.equal(
            response.headers.get("content-type"),
            "text/plain; charset=utf-8",
          );
          assert.match(text, body, path);
        }
      },
    );
  } finally {
    await workload.stop();
  }
});

Deno.test("pprof ui: a file the process may not read is shown from Deno's source map", async () => {
  const dir = denoDir();
  assert.ok(dir, "DENO_DIR is known");
  // Read access to Deno's cache only, not to the workload's own file.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      ...START_PERMISSIONS.filter((p) => p !== "--allow-read"),
      `--allow-read=${dir}`,
      WORKLOAD,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const server = captured(child);
  try {
    await waitFor(
      "the workload to be ready",
      () => /^ready /m.test(server.stdout()),
    );
    const port = Number(/^ready (\d+) /m.exec(server.stdout())![1]);
    const ui = `http://127.0.0.1:${port}/debug/pprof/ui`;
    const kept = await getJson<{ id: string }>(
      `${ui}/load?type=profile&seconds=1`,
    );
    const source = await getJson<SourceJson>(
      `${ui}/source.json?id=${kept.id}&file=${encodeURIComponent(WORKLOAD)}`,
    );
    assert.equal(source.from, "source map");
    assert.deepEqual(source.text, await readLines(WORKLOAD));
  } finally {
    await server.stop();
  }
});

async function readLines(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n");
}

const WORKLOAD_TEXT = Deno.readTextFileSync(WORKLOAD).split("\n");

/** The 1-based line of `name`'s `// hot` loop in the workload. */
function hotLine(name: string): number {
  const start = WORKLOAD_TEXT.findIndex((l) =>
    l.startsWith(`export function ${name}(`)
  );
  return start + 1 +
    WORKLOAD_TEXT.slice(start).findIndex((l) => l.endsWith("// hot"));
}
