/**
 * `/debug/pprof/ui/` over a real socket against the known workload: the
 * page and its assets are served self-contained, and the data endpoint
 * answers the flame tree of a fresh profile or of a POSTed file.
 */

import assert from "node:assert/strict";
import { startWorkload } from "../_helpers.ts";
import type { FlameNode } from "../../lib/pprof/ui/tree.ts";

/** Every node named `name`, anywhere in the tree. */
function findAll(root: FlameNode, name: string): FlameNode[] {
  const found: FlameNode[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.name === name) found.push(n);
    stack.push(...n.children);
  }
  return found;
}

function share(root: FlameNode, name: string): number {
  const sum = findAll(root, name).reduce((s, n) => s + n.value, 0);
  return sum / root.value;
}

async function fetchTree(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(
    response.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  return await response.json() as {
    type: string;
    sampleTypes: { type: string; unit: string }[];
    defaultIndex: number;
    root: FlameNode;
  };
}

Deno.test("pprof ui: the page, its assets and the flame-tree data", async (t) => {
  const workload = await startWorkload();
  const ui = `${workload.base}/debug/pprof/ui`;
  try {
    await t.step("ui redirects (301) to ui/, keeping the query", async () => {
      const response = await fetch(`${ui}?type=heap`, { redirect: "manual" });
      assert.equal(response.status, 301);
      assert.equal(
        response.headers.get("location"),
        "/debug/pprof/ui/?type=heap",
      );
      await response.body?.cancel();
    });

    await t.step("the index links to the flame graph", async () => {
      const html = await (await fetch(`${workload.base}/debug/pprof/`)).text();
      assert.match(html, /<a href='ui\/'>ui\/<\/a>/);
      assert.match(html, /<a href='ui\/'>ui<\/a>: <\/div> An interactive/);
      assert.doesNotMatch(html, /ui\?debug=1/, "not listed as a profile");
    });

    await t.step(
      "the page is self-contained: same-origin assets only",
      async () => {
        const response = await fetch(`${ui}/`);
        assert.equal(response.status, 200);
        assert.equal(
          response.headers.get("content-type"),
          "text/html; charset=utf-8",
        );
        assert.match(
          response.headers.get("content-security-policy") ?? "",
          /default-src 'self'/,
        );
        const html = await response.text();
        assert.match(html, /<script src="flame.js" defer><\/script>/);
        assert.match(html, /<link rel="stylesheet" href="flame.css">/);
        assert.match(html, /<option value="profile">profile<\/option>/);
        assert.match(html, /<option value="block">block<\/option>/);
        assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);

        const js = await fetch(`${ui}/flame.js`);
        assert.equal(
          js.headers.get("content-type"),
          "text/javascript; charset=utf-8",
        );
        const source = await js.text();
        new Function(source); // parses (does not run)
        assert.doesNotMatch(source, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
        const css = await fetch(`${ui}/flame.css`);
        assert.equal(
          css.headers.get("content-type"),
          "text/css; charset=utf-8",
        );
        await css.body?.cancel();
      },
    );

    await t.step(
      "data?type=profile is the CPU tree, alpha hottest",
      async () => {
        const tree = await fetchTree(`${ui}/data?type=profile&seconds=2`);
        assert.equal(tree.type, "profile");
        assert.deepEqual(tree.sampleTypes[tree.defaultIndex], {
          type: "cpu",
          unit: "nanoseconds",
        });
        const alpha = findAll(tree.root, "alpha");
        assert.ok(alpha.length > 0, "alpha is a frame");
        assert.ok(alpha[0]!.file?.endsWith("workload.ts"), alpha[0]!.file);
        assert.ok(
          share(tree.root, "alpha") > share(tree.root, "beta"),
          "alpha burns more than beta (about 3x)",
        );
      },
    );

    await t.step(
      "data?type=heap shows the 64 MiB retainMemory keeps",
      async () => {
        const tree = await fetchTree(`${ui}/data?type=heap`);
        assert.equal(tree.sampleTypes[tree.defaultIndex]!.type, "inuse_space");
        const retained = findAll(tree.root, "retainMemory")
          .reduce((s, n) => s + n.value, 0);
        assert.ok(retained > 32 * 2 ** 20, `retainMemory holds ${retained}`);
      },
    );

    await t.step("POST data: a .pb.gz file gives the same tree", async () => {
      const bytes = await (await fetch(
        `${workload.base}/debug/pprof/profile?seconds=1`,
      )).bytes();
      const tree = await fetchTree(`${ui}/data`, {
        method: "POST",
        body: bytes,
      });
      assert.equal(tree.type, "upload");
      assert.ok(findAll(tree.root, "alpha").length > 0);
    });

    await t.step(
      "errors are Go-style text: the source's own, or ours",
      async () => {
        const cases: [string, RequestInit, number, RegExp][] = [
          ["data?type=nosuch", {}, 400, /^invalid value for "type"/],
          ["data", {}, 400, /^invalid value for "type"/],
          ["data?type=profile&hz=0", {}, 400, /^invalid value for "hz"/],
          [
            "data",
            { method: "POST", body: "junk" },
            400,
            /not a pprof profile/,
          ],
          ["data", { method: "POST" }, 400, /^empty body/],
          ["nosuch", {}, 404, /^404 page not found/],
          ["", { method: "POST" }, 405, /^Method Not Allowed/],
          ["data", { method: "PUT" }, 405, /^Method Not Allowed/],
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
