/**
 * Profiling what the event loop cannot reach, as a user runs it: an
 * unmodified program whose main thread never yields and whose work runs in
 * Workers (one nested in another), under the watcher that `coredeno run`
 * starts (Deno's private inspector and the attach preload). Real processes,
 * real sockets, V8's defaults.
 */

import assert from "node:assert/strict";
import type { Profile } from "../../lib/deps.ts";
import { decodeProfile } from "../../lib/profile/pprof.ts";
import { quietInspectorLog } from "../../lib/cli/run.ts";
import { bodyOf, stacks, typeIndex } from "../profile/_helpers.ts";
import {
  captured,
  type Coredeno,
  coredenoRunArgs,
  freePort,
  REPO,
  START_PERMISSIONS,
  waitFor,
} from "../_helpers.ts";

const FIXTURES = new URL("fixtures/", import.meta.url);
const BUSY_APP = new URL("busy_app.ts", FIXTURES).pathname;
const BUSY_WORKER = new URL("busy_worker.ts", FIXTURES).pathname;
const BUSY_NESTED = new URL("busy_nested.ts", FIXTURES).pathname;
const ATTACH = new URL("lib/pprof/attach.ts", REPO);

/**
 * `app` run as `coredeno run` runs it, with the inspector on a port the
 * test knows: the private inspector, the preload, `DENO_LOG`.
 */
function runWatched(app: string, args: string[] = [], query = "") {
  const inspectPort = freePort();
  const pprofPort = freePort();
  const attach = new URL(ATTACH);
  attach.search = `?address=127.0.0.1:${pprofPort}&watch&unsetLog${query}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--inspect=127.0.0.1:${inspectPort}`,
      "--inspect-publish-uid=none",
      ...START_PERMISSIONS,
      "--preload",
      attach.href,
      app,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_LOG: quietInspectorLog([], undefined) },
  }).spawn();
  return {
    ...captured(child),
    inspectPort,
    base: `http://127.0.0.1:${pprofPort}/debug/pprof`,
  };
}

async function fetchProfile(url: string): Promise<Profile> {
  const response = await fetch(url);
  assert.equal(response.status, 200, await response.clone().text());
  return decodeProfile(new Uint8Array(await response.arrayBuffer()));
}

/** `type` summed over samples whose leaf is `name`, by their `isolate` label. */
function selfByIsolate(
  p: Profile,
  type: string,
  name: string,
): Map<string, number> {
  const s = p.stringTable.strings;
  const i = typeIndex(p, type);
  const out = new Map<string, number>();
  const all = stacks(p);
  p.sample.forEach((sample, k) => {
    if (all[k]!.frames[0]?.name !== name) return;
    const label = sample.label.find((l) => s[Number(l.key)] === "isolate");
    const isolate = label ? s[Number(label.str)]! : "";
    out.set(isolate, (out.get(isolate) ?? 0) + Number(sample.value[i]));
  });
  return out;
}

/** Waits for the program's "busy" line (its workers run, its main thread spins). */
async function waitBusy(app: Coredeno) {
  await waitFor("the program to be busy", () => {
    if (/busy/.test(app.stdout())) return true;
    if (app.stderr().includes("error")) throw new Error(app.stderr());
    return false;
  }, 30_000);
}

Deno.test("a main thread that never yields and busy Workers (one nested): a live CPU profile of every isolate, by function, TypeScript line and isolate label, in N seconds plus a little", async () => {
  const app = runWatched(BUSY_APP);
  try {
    await waitBusy(app);
    const t0 = performance.now();
    const p = await fetchProfile(`${app.base}/profile?seconds=2`);
    const overshoot = performance.now() - t0 - 2000;
    console.log(
      `profile?seconds=2 answered ${overshoot.toFixed(0)} ms after its 2 s`,
    );
    // The program never yields: an answer at all proves the watcher; a
    // bound far over what it takes (tens of ms) keeps a hang from passing.
    assert.ok(overshoot < 3000, `${overshoot} ms late`);

    for (
      const [name, file, isolate] of [
        ["mainSpin", BUSY_APP, "main"],
        ["workerSpin", BUSY_WORKER, "spinner"],
        ["nestedSpin", BUSY_NESTED, "nested"],
      ] as const
    ) {
      const byIsolate = selfByIsolate(p, "cpu", name);
      const seconds = (byIsolate.get(isolate) ?? 0) / 1e9;
      console.log(`${name}: ${seconds.toFixed(2)} s on ${isolate}`);
      // Each spins a whole thread: most of the 2 s (the machine has 2 cores
      // for 3 spinning threads and this test).
      assert.ok(seconds > 0.3, `${name} ${JSON.stringify([...byIsolate])}`);
      assert.deepEqual([...byIsolate.keys()], [isolate], name);
      const { start, end } = bodyOf(file, name);
      for (const s of stacks(p)) {
        for (const f of s.frames) {
          if (f.name !== name) continue;
          assert.equal(f.file, file);
          assert.ok(f.line >= start && f.line <= end, `${name}:${f.line}`);
        }
      }
    }

    const heap = await fetchProfile(`${app.base}/heap`);
    const retained = selfByIsolate(heap, "inuse_space", "retainInWorker");
    const mib = (retained.get("spinner") ?? 0) / 2 ** 20;
    console.log(`retainInWorker: ${mib.toFixed(1)} MiB on spinner (truth 24)`);
    assert.ok(mib > 24 * 0.75 && mib < 24 * 1.25, `${mib} MiB`);

    const threads = await fetch(`${app.base}/goroutine?debug=1`);
    const text = await threads.text();
    assert.match(text, /goroutine profile: total 3/);
    assert.match(text, /worker #\d+ \(spinner\)/);
    assert.match(text, /worker #\d+ \(nested\)/);
  } finally {
    await app.stop();
  }
  // Nothing but the program's own line in its output.
  assert.equal(app.stdout(), "busy\n");
  assert.equal(app.stderr(), "");
});

Deno.test("servePprof() in a program started with a private inspector is the watcher's: the busy main thread and its workers are profiled", async () => {
  const inspectPort = freePort();
  const pprofPort = freePort();
  const app = captured(
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--inspect=127.0.0.1:${inspectPort}`,
        "--inspect-publish-uid=none",
        ...START_PERMISSIONS,
        new URL("serving_busy_app.ts", FIXTURES).pathname,
        String(pprofPort),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_LOG: quietInspectorLog([], undefined) },
    }).spawn(),
  );
  try {
    await waitBusy(app);
    const p = await fetchProfile(
      `http://127.0.0.1:${pprofPort}/debug/pprof/profile?seconds=1`,
    );
    for (
      const [name, isolate] of [
        ["mainSpin", "main"],
        ["workerSpin", "spinner"],
        ["nestedSpin", "nested"],
      ]
    ) {
      const ns = selfByIsolate(p, "cpu", name!).get(isolate!) ?? 0;
      assert.ok(ns > 0.1e9, `${name} on ${isolate}: ${ns} ns`);
    }
  } finally {
    await app.stop();
  }
  assert.equal(app.stdout(), "busy\n");
});

Deno.test("the private inspector is no door: no target list, no session for a guessed address, nothing printed", async () => {
  const app = runWatched(BUSY_APP);
  try {
    await waitBusy(app);
    const inspector = `127.0.0.1:${app.inspectPort}`;
    for (const path of ["/json/list", "/json", "/json/version"]) {
      const response = await fetch(`http://${inspector}${path}`);
      await response.body?.cancel();
      assert.equal(response.status, 404, path);
    }
    // A WebSocket to a made-up session id: refused before any protocol.
    for (
      const path of [`/ws/${crypto.randomUUID()}`, `/${crypto.randomUUID()}`]
    ) {
      const refused = await new Promise<boolean>((resolve) => {
        const ws = new WebSocket(`ws://${inspector}${path}`);
        ws.onopen = () => {
          ws.close();
          resolve(false);
        };
        ws.onerror = () => resolve(true);
      });
      assert.ok(refused, `a session at ${path} was opened`);
    }
    // The watcher still answers.
    const index = await fetch(`${app.base}/`);
    assert.equal(index.status, 200);
    await index.body?.cancel();
  } finally {
    await app.stop();
  }
  assert.equal(app.stderr(), "");
});

Deno.test("a watched program ends as it would without pprof: Deno.exit's code, or running out of work, with nothing printed", async (t) => {
  await t.step("Deno.exit(3)", async () => {
    const app = runWatched(BUSY_APP, ["exit"]);
    const status = await app.status;
    assert.equal(status.code, 3, app.stderr());
    assert.equal(app.stdout(), "busy\n");
    assert.equal(app.stderr(), "");
  });
  await t.step("out of work", async () => {
    const app = runWatched(BUSY_APP, ["end"]);
    const status = await app.status;
    assert.equal(status.code, 0, app.stderr());
    assert.equal(app.stdout(), "busy\n");
    assert.equal(app.stderr(), "");
  });
});

Deno.test("coredeno run -A: the program starts (no --allow-sys added to -A), is watched, and prints only its own output", async () => {
  const child = captured(
    new Deno.Command(Deno.execPath(), {
      args: coredenoRunArgs(["--pprof", "127.0.0.1:0", "-A", BUSY_APP]),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn(),
  );
  try {
    await waitBusy(child);
    const [, address] = child.stderr().match(
      /^coredeno run: pprof at (http:\/\/127\.0\.0\.1:\d+)\/debug\/pprof\/$/m,
    )!;
    const p = await fetchProfile(`${address}/debug/pprof/profile?seconds=1`);
    assert.ok((selfByIsolate(p, "cpu", "workerSpin").get("spinner") ?? 0) > 0);
  } finally {
    await child.stop();
  }
  assert.equal(child.stdout(), "busy\n");
  // coredeno run's own line, before the program started: nothing else.
  assert.match(child.stderr(), /^coredeno run: pprof at http:\/\/[^\n]+\n$/);
});

/** The resident memory the churn app printed last (MiB). */
function lastRss(app: Coredeno): number {
  return Number([...app.stdout().matchAll(/rss ([\d.]+)/g)].at(-1)![1]);
}

Deno.test("workers that end during a capture (closing, terminated, throwing) leave their samples so far, and the capture does not wait for them", async () => {
  const app = runWatched(new URL("churn_app.ts", FIXTURES).pathname, [
    "9",
    "600",
  ]);
  try {
    await waitFor("the program to start", () => /started/.test(app.stdout()));
    const t0 = performance.now();
    const p = await fetchProfile(`${app.base}/profile?seconds=8`);
    const overshoot = performance.now() - t0 - 8000;
    await waitFor("the workers", () => /done 9/.test(app.stdout()), 60_000);
    assert.ok(overshoot < 3000, `${overshoot} ms late`);
    const byIsolate = selfByIsolate(p, "cpu", "churnSpin");
    console.log(
      `churnSpin by isolate: ${
        JSON.stringify([...byIsolate].map(([k, v]) => [k, Math.round(v / 1e6)]))
      } ms`,
    );
    for (const end of ["close", "terminate", "throw"]) {
      // Three workers of each kind spun 600 ms each; their parts are
      // collected every 250 ms, so most of it is in.
      const ms = (byIsolate.get(`churn-${end}`) ?? 0) / 1e6;
      assert.ok(ms > 3 * 600 * 0.4, `churn-${end}: ${ms} ms`);
    }
    const comments = p.comment.map((c) => p.stringTable.strings[Number(c)]!);
    assert.ok(comments.some((c) => /is incomplete: .*ended/.test(c)));
  } finally {
    await app.stop();
  }
});

Deno.test("200 workers started and ended during a 30 s capture leak nothing: the isolates go, and 200 more in a second capture leave the memory where the first left it", async () => {
  const app = runWatched(new URL("churn_app.ts", FIXTURES).pathname, [
    "200",
    "20",
  ]);
  try {
    await waitFor("the program to start", () => /started/.test(app.stdout()));
    const start = lastRss(app);
    const p = await fetchProfile(`${app.base}/profile?seconds=30`);
    await waitFor("the workers", () => /done 200/.test(app.stdout()), 60_000);
    const first = lastRss(app);
    const threads = await (await fetch(`${app.base}/goroutine?debug=1`)).text();
    const created = await (await fetch(`${app.base}/threadcreate?debug=1`))
      .text();
    assert.match(threads, /^goroutine profile: total 1\n/);
    assert.match(created, /^threadcreate profile: total 201\n/);
    // The same again: what the first round left (the allocator's arenas,
    // compiled code, the capture's share) is reused, not added to.
    const second = fetchProfile(`${app.base}/profile?seconds=30`);
    await new Promise((r) => setTimeout(r, 200)); // the capture runs
    app.child.kill("SIGUSR2");
    await waitFor("the workers", () => /done 400/.test(app.stdout()), 90_000);
    const again = lastRss(app);
    await second;
    const after = await (await fetch(`${app.base}/goroutine?debug=1`)).text();
    console.log(
      `RSS ${start.toFixed(1)} MiB at start, ${first.toFixed(1)} after 200 ` +
        `workers, ${again.toFixed(1)} after 400; ${p.sample.length} stacks; ` +
        `${created.split("\n")[0]}; then ${after.split("\n")[0]}`,
    );
    assert.match(after, /^goroutine profile: total 1\n/);
    assert.ok(again - first < 15, `RSS grew ${again - first} MiB in round 2`);
  } finally {
    await app.stop();
  }
});

/**
 * Asserts that `isolate` spent at least `minSeconds` of `p` and that most
 * of it is booked to hot_worker.ts's functions (`hotStep`, `hotLoop`), not
 * to the module or `(program)`.
 */
function assertHotLoopNamed(p: Profile, isolate: string, minSeconds: number) {
  const s = p.stringTable.strings;
  const i = typeIndex(p, "cpu");
  const all = stacks(p);
  const leaves = new Map<string, number>();
  p.sample.forEach((sample, k) => {
    const label = sample.label.find((l) => s[Number(l.key)] === "isolate");
    if (!label || s[Number(label.str)] !== isolate) return;
    const leaf = all[k]!.frames[0]?.name ?? "";
    leaves.set(leaf, (leaves.get(leaf) ?? 0) + Number(sample.value[i]) / 1e9);
  });
  const total = [...leaves.values()].reduce((a, b) => a + b, 0);
  const named = (leaves.get("hotStep") ?? 0) + (leaves.get("hotLoop") ?? 0);
  console.log(
    `${isolate}: ${total.toFixed(2)} s; ${
      JSON.stringify([...leaves].map(([k, v]) => [k, +v.toFixed(2)]))
    }`,
  );
  assert.ok(total > minSeconds, `${total} s on ${isolate}`);
  assert.ok(named > 0.8 * total, `hotStep + hotLoop ${named} of ${total} s`);
}

Deno.test("a Worker hot from its first line is profiled as it runs: its CPU profiler starts before the worker does", async () => {
  const app = runWatched(new URL("hot_app.ts", FIXTURES).pathname);
  try {
    await waitFor("the program to start", () => /started/.test(app.stdout()));
    await new Promise((r) => setTimeout(r, 500));
    // The loop was compiled on the stack in the worker's first milliseconds:
    // only a profiler that was running then books it to the functions.
    assertHotLoopNamed(
      await fetchProfile(`${app.base}/profile?seconds=2`),
      "hot",
      0.5,
    );
  } finally {
    await app.stop();
  }
});

Deno.test("a program that churns workers: a long-lived one started then is profiled from 250 ms into its life (a loop it enters at 1 s keeps its functions)", async () => {
  const app = runWatched(new URL("churn_app.ts", FIXTURES).pathname, [
    "24",
    "5",
    "1000",
  ]);
  try {
    await waitFor("the long worker", () => /long started/.test(app.stdout()));
    // 24 workers that lived ~10 ms each: the long one's profiler starts when
    // it has lived 250 ms (profiler.ts, "Worker churn"), before it enters
    // its endless loop at 1 s, which is then booked to its functions.
    await new Promise((r) => setTimeout(r, 1600));
    assertHotLoopNamed(
      await fetchProfile(`${app.base}/profile?seconds=1`),
      "long",
      0.3,
    );
  } finally {
    await app.stop();
  }
});
