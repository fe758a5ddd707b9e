/**
 * Faults a profiler meets when production is already in trouble: signals in
 * the middle of a capture, a second process on one pidfile, a Corefile gone
 * or broken at reload. Each gets a clear message and leaves nothing half
 * started.
 */

import assert from "node:assert/strict";
import { boundPorts, spawnCoredeno, tempFiles, waitFor } from "./_helpers.ts";

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** The Corefile the tests serve: pprof on a port of the kernel's choosing. */
const PPROF_COREFILE = ".:0 {\n    pprof 127.0.0.1:0\n}\n";

/** coredeno on `corefile` in a temp dir, started and serving pprof at `index`, the port it logs. */
async function serve(
  corefile: string,
  args: string[] = [],
  extraPermissions: string[] = [],
) {
  const files = tempFiles({ Corefile: corefile });
  const process = spawnCoredeno(["-conf", "Corefile", ...args], {
    cwd: files.dir,
    extraPermissions,
  });
  const { httpPort } = boundPorts(process.stdout);
  let index = "";
  await waitFor("pprof to answer", () => {
    if (!/plugin\/pprof: Listening on/.test(process.stdout())) return false;
    index ||= `http://127.0.0.1:${httpPort("pprof")}/debug/pprof/`;
    return answers(index);
  });
  return { process, index, dir: files.dir, cleanup: files.cleanup };
}

Deno.test("SIGTERM during a 30 s CPU profile exits 0 within 5 s", async () => {
  const server = await serve(PPROF_COREFILE);
  try {
    const capture = fetch(`${server.index}profile`).then(
      async (response) => (await response.arrayBuffer(), response.status),
      () => "disconnected",
    );
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    server.process.child.kill("SIGTERM");
    const status = await server.process.status;
    const elapsed = Date.now() - started;
    assert.equal(status.code, 0, server.process.stderr());
    assert.ok(elapsed < 5000, `exit took ${elapsed} ms`);
    // The capture ended with the server: its client got what there was, or the connection closed.
    assert.ok([200, "disconnected"].includes(await capture));
  } finally {
    server.cleanup();
  }
});

Deno.test("a second SIGINT forces the exit (2) while the first still shuts down", async () => {
  const server = await serve(
    ".:0 {\n    pprof 127.0.0.1:0\n    health 127.0.0.1:0 {\n        lameduck 5s\n    }\n}\n",
  );
  try {
    server.process.child.kill("SIGINT");
    await waitFor(
      "lameduck",
      () => server.process.stdout().includes("SIGINT: Shutting down"),
    );
    server.process.child.kill("SIGINT");
    const status = await server.process.status;
    assert.equal(status.code, 2);
    assert.match(server.process.stdout(), /\[INFO\] SIGINT: Force quit/);
  } finally {
    server.cleanup();
  }
});

Deno.test("a second process on a live pidfile refuses to start and binds nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-pid-" });
  const pidfile = `${dir}/coredeno.pid`;
  const first = await serve(
    PPROF_COREFILE,
    ["-pidfile", pidfile],
    [`--allow-write=${pidfile}`],
  );
  try {
    await waitFor(
      "the pidfile",
      async () => (await Deno.readTextFile(pidfile).catch(() => "")) !== "",
    );
    const files = tempFiles({ Corefile: PPROF_COREFILE });
    const second = spawnCoredeno(["-conf", "Corefile", "-pidfile", pidfile], {
      cwd: files.dir,
      extraPermissions: [`--allow-write=${pidfile}`],
    });
    const status = await second.status;
    files.cleanup();
    assert.equal(status.code, 1);
    assert.equal(
      second.stderr(),
      `pidfile ${pidfile}: already running as pid ${first.process.child.pid}\n`,
    );
    assert.equal(
      await Deno.readTextFile(pidfile),
      `${first.process.child.pid}\n`,
      "the first keeps its pidfile",
    );
    // A listener it opened would have said so.
    assert.doesNotMatch(second.stdout(), /Listening on/);
    assert.ok(await answers(first.index), "the first keeps serving");
  } finally {
    await first.process.stop();
    first.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stale pidfile (its process gone) does not stop a start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-pid-" });
  const pidfile = `${dir}/coredeno.pid`;
  await Deno.writeTextFile(pidfile, "999999999\n"); // no process holds its lock
  const server = await serve(
    PPROF_COREFILE,
    ["-pidfile", pidfile],
    [`--allow-write=${pidfile}`],
  );
  try {
    await waitFor(
      "the new pid",
      async () =>
        (await Deno.readTextFile(pidfile)) === `${server.process.child.pid}\n`,
    );
  } finally {
    await server.process.stop();
    server.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reload with the Corefile deleted, or its new address in use, keeps the old one serving", async () => {
  const server = await serve(PPROF_COREFILE);
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await Deno.remove(`${server.dir}/Corefile`);
    server.process.child.kill("SIGUSR1");
    await waitFor(
      "the reload error",
      () => /\[ERROR\] SIGUSR1: .*Corefile/.test(server.process.stdout()),
    );
    assert.ok(await answers(server.index));

    const taken = (busy.addr as Deno.NetAddr).port;
    await Deno.writeTextFile(
      `${server.dir}/Corefile`,
      `.:0 {\n    pprof 127.0.0.1:${taken}\n}\n`,
    );
    server.process.child.kill("SIGUSR1");
    await waitFor(
      "the failed restart",
      () => server.process.stdout().includes("address already in use"),
    );
    assert.ok(await answers(server.index), "the old configuration serves");
  } finally {
    busy.close();
    const status = await server.process.stop();
    server.cleanup();
    assert.equal(status.code, 0, server.process.stderr());
  }
});
