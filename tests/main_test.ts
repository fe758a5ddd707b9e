/** The command line as CoreDNS users know it: flags, Corefile discovery, errors, signals, exit codes. */

import assert from "node:assert/strict";
import {
  bannerPrinted,
  boundPorts,
  freePort,
  REPO,
  spawnCoredeno,
  startCoredeno,
  tempFiles,
  waitFor,
} from "./_helpers.ts";

async function run(
  args: string[],
  files: Record<string, string> = {},
  extraPermissions: string[] = [],
) {
  const dir = tempFiles(files);
  try {
    const process = spawnCoredeno(args, { cwd: dir.dir, extraPermissions });
    const status = await process.status;
    return {
      code: status.code,
      stdout: process.stdout(),
      stderr: process.stderr(),
    };
  } finally {
    dir.cleanup();
  }
}

Deno.test("a bad Corefile exits 1 with CoreDNS's one-line message", async () => {
  const result = await run(["-conf", "Corefile"], {
    Corefile: ". {\n    pprof /foo\n}\n",
  });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    "plugin/pprof: Corefile:2 - Error during parsing: address /foo: missing port in address\n",
  );
});

Deno.test("an unreadable -conf exits 1 naming the file", async () => {
  const result = await run(["-conf", "missing.conf"]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    "loading Corefile via flag: open missing.conf: no such file or directory\n",
  );
});

Deno.test("./Corefile is read when -conf is absent", async () => {
  const server = await startCoredenoIn({
    Corefile: "example.org:0 {\n    pprof 127.0.0.1:0\n}\n",
  }, []);
  assert.match(server.stdout, /^example\.org\.:[1-9]\d*$/m);
});

/** Starts main.ts in a dir with `files`, waits for the banner, then SIGTERMs it. */
async function startCoredenoIn(files: Record<string, string>, args: string[]) {
  const dir = tempFiles(files);
  const process = spawnCoredeno(args, { cwd: dir.dir });
  try {
    await waitFor("the banner", () => bannerPrinted(process));
  } finally {
    await process.stop();
    dir.cleanup();
  }
  return { stdout: process.stdout(), stderr: process.stderr() };
}

Deno.test("without any Corefile the built-in default runs, on -dns.port", async () => {
  const server = await startCoredenoIn({}, ["-dns.port", "0"]);
  assert.match(server.stdout, /^\.:[1-9]\d*$/m); // bound, not 53
  assert.doesNotMatch(server.stdout, /\[WARNING\]/); // whoami and log serve (tests/dns)
});

Deno.test("startup prints zone lines then the version, or nothing with -quiet", async () => {
  // Ports written out, since what is checked is that they print as written.
  const [explicit, flag] = [freePort(), freePort()];
  const corefile =
    `example.org example.net:${explicit} {\n    pprof 127.0.0.1:0\n}\n` +
    "b.example {\n    pprof 127.0.0.1:0\n}\n";
  const server = await startCoredeno(corefile, ["-p", String(flag)]);
  await server.stop();
  server.cleanup();
  const lines = server.stdout().split("\n");
  // One line for the two blocks' pprof 127.0.0.1:0: they share a listener.
  assert.match(
    lines[0]!,
    /^\[INFO\] plugin\/pprof: Listening on 127\.0\.0\.1:\d+$/,
  );
  assert.deepEqual(lines.slice(1, 5), [
    `b.example.:${flag}`,
    `example.org.:${flag}`,
    `example.net.:${explicit}`,
    "coredeno-0.1.0",
  ]);
  assert.match(lines[5]!, /^linux\/x86_64, deno2\.9\.6, $/);

  const quiet = await startCoredenoQuiet(corefile, ["-p", String(flag)]);
  assert.equal(quiet.stdout.includes("coredeno-"), false);
  assert.equal(quiet.stdout.includes("example.org"), false);
});

/**
 * Starts with -quiet (no banner to wait for), waits until pprof answers on
 * the port it logs (-quiet keeps log lines), then SIGTERMs.
 */
async function startCoredenoQuiet(corefile: string, args: string[]) {
  const dir = tempFiles({ Corefile: corefile });
  const process = spawnCoredeno(["-conf", "Corefile", "-quiet", ...args], {
    cwd: dir.dir,
  });
  const { httpPort } = boundPorts(process.stdout);
  try {
    await waitFor("pprof to answer", async () => {
      try {
        const url = `http://127.0.0.1:${httpPort("pprof")}/debug/pprof/`;
        await (await fetch(url)).body?.cancel();
        return true;
      } catch {
        return false;
      }
    });
  } finally {
    await process.stop();
    dir.cleanup();
  }
  return { stdout: process.stdout() };
}

Deno.test("-version, -plugins and -h exit 0", async () => {
  const version = await run(["-version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^coredeno-0\.1\.0\n/);
  const plugins = await run(["--plugins"]);
  assert.equal(plugins.code, 0);
  assert.equal(
    plugins.stdout,
    "cache\nerrors\nforward\nhealth\nhosts\nloadbalance\nlog\nloop\npprof\nprometheus\nready\nreload\ntls\nwhoami\n\n",
  );
  const help = await run(["-h"]);
  assert.equal(help.code, 0);
  assert.match(help.stderr, /^Usage of coredeno:\n {2}-conf string\n/);
});

Deno.test("a bad flag exits 2 with Go's message and usage; extra arguments exit 1", async () => {
  const bad = await run(["-nosuch"]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^flag provided but not defined: -nosuch\nUsage of coredeno:\n/,
  );
  const missing = await run(["-conf"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^flag needs an argument: -conf\n/);
  const extra = await run(["-quiet", "Corefile", "x"]);
  assert.equal(extra.code, 1);
  assert.equal(extra.stderr, "extra command line arguments: [Corefile x]\n");
});

Deno.test("an address in use fails startup naming it, and nothing keeps running", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  try {
    const corefile =
      `a.example {\n    pprof 127.0.0.1:0\n}\nb.example {\n    pprof 127.0.0.1:${port}\n}\n`;
    const result = await run(["-conf", "Corefile"], { Corefile: corefile });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `plugin/pprof: Failed to start pprof handler: listen tcp 127.0.0.1:${port}: bind: address already in use\n`,
    );
  } finally {
    busy.close();
  }
});

Deno.test("SIGTERM and SIGINT shut down gracefully within 5 s with exit 0", async () => {
  for (
    const [signal, line] of [
      ["SIGTERM", "[INFO] SIGTERM: Shutting down servers then terminating"],
      ["SIGINT", "[INFO] SIGINT: Shutting down"],
    ] as const
  ) {
    const server = await startCoredeno(".:0 {\n    pprof 127.0.0.1:0\n}\n");
    const port = server.httpPort("pprof");
    const started = Date.now();
    server.child.kill(signal);
    const status = await server.status;
    server.cleanup();
    assert.ok(
      Date.now() - started < 5000,
      `${signal} took ${Date.now() - started} ms`,
    );
    assert.equal(status.code, 0, server.stderr());
    assert.ok(server.stdout().includes(line), server.stdout());
    await assert.rejects(fetch(`http://127.0.0.1:${port}/debug/pprof/`));
  }
});

Deno.test("-pidfile holds the pid while running and is removed on exit", async () => {
  const dir = tempFiles({
    Corefile: ".:0 {\n    pprof 127.0.0.1:0\n}\n",
  });
  const pidfile = `${dir.dir}/coredeno.pid`;
  const process = spawnCoredeno(["-conf", "Corefile", "-pidfile", pidfile], {
    cwd: dir.dir,
    extraPermissions: [`--allow-write=${pidfile}`],
  });
  try {
    await waitFor("the banner", () => bannerPrinted(process));
    assert.equal(await Deno.readTextFile(pidfile), `${process.child.pid}\n`);
  } finally {
    const status = await process.stop();
    assert.equal(status.code, 0, process.stderr());
    assert.throws(() => Deno.statSync(pidfile), Deno.errors.NotFound);
    dir.cleanup();
  }
});

const TESTDATA = new URL("plugins/tls/testdata", REPO).pathname;

Deno.test("port 0 prints the port bound: zone lines and each HTTP listener", async () => {
  const server = await startCoredeno(
    ".:0 example.org:0 {\n    whoami\n    pprof 127.0.0.1:0\n    health 127.0.0.1:0\n}\n" +
      `tls://b.example:0 {\n    tls ${TESTDATA}/cert.pem ${TESTDATA}/key.pem\n    whoami\n}\n`,
  );
  try {
    const dns = server.zonePort(".");
    assert.notEqual(dns, 0);
    assert.equal(server.zonePort("example.org."), dns); // one server, one port
    const lines = server.stdout().split("\n");
    assert.ok(lines.includes(`.:${dns}`), server.stdout());
    assert.ok(lines.includes(`example.org.:${dns}`), server.stdout());
    const tls = server.zonePort("tls://b.example.");
    assert.notEqual(tls, 0);
    assert.notEqual(tls, dns);
    for (
      const [plugin, path] of [["pprof", "/debug/pprof/"], [
        "health",
        "/health",
      ]]
    ) {
      const port = server.httpPort(plugin!);
      assert.notEqual(port, 0);
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      assert.equal(response.status, 200, plugin);
      await response.body?.cancel();
    }
    // The DNS port answers: a TCP connection is accepted there.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: dns });
    conn.close();
  } finally {
    await server.stop();
    server.cleanup();
  }
});
