/** The plugin host: plugin.cfg order, unknown and unavailable directives, hooks, rollback. */

import assert from "node:assert/strict";
import { setLogSink } from "../../lib/log.ts";
import { loadInstance } from "../../lib/server/instance.ts";
import type { Plugin } from "../../lib/server/plugin.ts";
import { DIRECTIVES, PLUGINS } from "../../plugins/mod.ts";
import { freePort } from "../_helpers.ts";

/** A plugin that records what its setup and hooks do, and can fail on demand. */
function recorder(
  name: string,
  events: string[],
  fail: { startup?: boolean } = {},
): Plugin {
  return {
    name,
    setup(c) {
      c.dispenser.next();
      const args = c.dispenser.remainingArgs();
      events.push(`setup ${name} ${args.join(" ")}`.trim());
      c.onStartup(() => {
        if (fail.startup) throw new Error(`${name} cannot start`);
        events.push(`start ${name}`);
      });
      c.onShutdown(() => void events.push(`stop ${name}`));
    },
  };
}

Deno.test("setup and hooks run in plugin.cfg order, not Corefile order", async () => {
  const events: string[] = [];
  const plugins = [
    recorder("whoami", events),
    recorder("log", events),
    recorder("reload", events),
  ];
  const instance = loadInstance(
    "a.example {\n    whoami\n    log\n    reload\n}\nb.example {\n    log two\n}\n",
    {
      filename: "Corefile",
      directives: DIRECTIVES,
      plugins,
    },
  );
  assert.deepEqual(events, [
    "setup reload",
    "setup log",
    "setup log two",
    "setup whoami",
  ]);
  await instance.start();
  assert.deepEqual(await instance.stop(), []);
  assert.deepEqual(events.slice(4), [
    "start reload",
    "start log",
    "start log",
    "start whoami",
    "stop reload",
    "stop log",
    "stop log",
    "stop whoami",
  ]);
});

Deno.test("a failed startup rolls back everything, started or not", async () => {
  const events: string[] = [];
  const plugins = [
    recorder("reload", events),
    recorder("log", events, { startup: true }),
    recorder("whoami", events),
  ];
  const instance = loadInstance(". {\n    whoami\n    log\n    reload\n}\n", {
    filename: "Corefile",
    directives: DIRECTIVES,
    plugins,
  });
  await assert.rejects(instance.start(), /log cannot start/);
  assert.deepEqual(events.slice(3), [
    "start reload",
    "stop reload",
    "stop log",
    "stop whoami",
  ]);
  assert.deepEqual(await instance.stop(), [], "stopping again does nothing");
});

Deno.test("a failed pprof startup closes the listeners that did open", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const corefile =
    `a.example {\n    pprof 127.0.0.1:0\n}\nb.example {\n    pprof 127.0.0.1:${
      (busy.addr as Deno.NetAddr).port
    }\n}\n`;
  const instance = loadInstance(corefile, {
    filename: "Corefile",
    directives: DIRECTIVES,
    plugins: PLUGINS,
  });
  const lines: string[] = [];
  const restore = setLogSink((line) => lines.push(line));
  try {
    await assert.rejects(instance.start(), /address already in use/);
  } finally {
    setLogSink(restore);
    busy.close();
  }
  // The first listener did open, and is gone: its port binds again.
  const port = Number(
    /Listening on 127\.0\.0\.1:(\d+)/.exec(lines.join("\n"))?.[1],
  );
  assert.ok(port > 0, lines.join("\n"));
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});

Deno.test("a CoreDNS directive coredeno lacks is refused with file and line", () => {
  assert.throws(
    () =>
      loadInstance(". {\n    pprof\n    kubernetes cluster.local\n}\n", {
        filename: "Corefile",
        directives: DIRECTIVES,
        plugins: PLUGINS,
      }),
    {
      message:
        "plugin/kubernetes: Corefile:3 - Error during parsing: not available in coredeno " +
        "(available: cache, errors, forward, health, hosts, loadbalance, log, loop, pprof, prometheus, ready, reload, tls, whoami)",
    },
  );
});

Deno.test("blocks naming the same pprof address share one listener", async () => {
  // A port written out: the point is that it is not bound twice.
  const port = freePort();
  const instance = loadInstance(
    `a.example {\n    pprof 127.0.0.1:${port}\n}\nb.example:1053 {\n    pprof 127.0.0.1:${port}\n}\n`,
    { filename: "Corefile", directives: DIRECTIVES, plugins: PLUGINS },
  );
  await instance.start(); // a second bind of the same port would throw here
  try {
    const response = await fetch(`http://127.0.0.1:${port}/debug/pprof/`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
  } finally {
    await instance.stop();
  }
});
