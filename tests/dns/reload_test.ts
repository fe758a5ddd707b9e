/**
 * Reload (SIGUSR1 and the reload plugin) against a coredeno subprocess: the
 * new configuration starts before the old one stops, addresses both keep
 * serve throughout, and a failed reload keeps the old configuration and
 * leaks no listener.
 */

import assert from "node:assert/strict";
import { RCODE } from "../../lib/dns/wire.ts";
import {
  bannerPrinted,
  boundPorts,
  freePort,
  spawnCoredeno,
  startCoredeno,
  tempFiles,
  waitFor,
} from "../_helpers.ts";
import { queryMessage, udpQuery } from "./_dns.ts";

function count(text: string, line: string): number {
  return text.split("\n").filter((l) => l === line).length;
}

async function refused(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

Deno.test("pprof and DNS answer every request through ten SIGUSR1 reloads", async () => {
  // Ports written out: a reload keeps an address's socket only for those.
  const dns = freePort();
  const pprof = freePort();
  const server = await startCoredeno(
    `.:${dns} {\n    whoami\n    pprof 127.0.0.1:${pprof}\n}\n`,
  );
  let stop = false;
  const failures: string[] = [];
  let fetches = 0;
  let queries = 0;
  const httpLoop = (async () => {
    while (!stop) {
      try {
        const response = await fetch(`http://127.0.0.1:${pprof}/debug/pprof/`);
        await response.text();
        if (response.status !== 200) failures.push(`HTTP ${response.status}`);
        fetches++;
      } catch (error) {
        failures.push(`fetch: ${error}`);
      }
    }
  })();
  const dnsLoop = (async () => {
    while (!stop) {
      try {
        const q = await udpQuery(dns, queryMessage("example.org.", "A"));
        if (q.reply.rcode !== RCODE.NOERROR) {
          failures.push(`DNS ${q.reply.rcode}`);
        }
        queries++;
      } catch (error) {
        failures.push(`DNS: ${error}`);
      }
    }
  })();
  try {
    for (let i = 1; i <= 10; i++) {
      server.child.kill("SIGUSR1");
      await waitFor(
        `reload ${i}`,
        () => count(server.stdout(), "[INFO] Reloading complete") === i,
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    stop = true;
    await Promise.all([httpLoop, dnsLoop]);
    await server.stop();
    server.cleanup();
  }
  console.log(`${fetches} fetches, ${queries} queries during 10 reloads`);
  assert.deepEqual(failures, []);
  assert.equal(count(server.stdout(), "[INFO] SIGUSR1: Reloading"), 10);
  assert.ok(
    fetches > 10 && queries > 10,
    `${fetches} fetches, ${queries} queries`,
  );
  assert.doesNotMatch(server.stdout(), /\[ERROR\]/);
});

Deno.test("a failed reload keeps the old configuration and leaks no listener", async () => {
  // Ports written out: the reloads name them again, and a reload keeps an
  // address's socket only for those.
  const dns = freePort();
  const pprof = freePort();
  const pprof2 = freePort();
  const busy = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const files = tempFiles({
    Corefile: `.:${dns} {\n    whoami\n    pprof 127.0.0.1:${pprof}\n}\n`,
  });
  const server = spawnCoredeno(["-conf", `${files.dir}/Corefile`]);
  const serving = async () => {
    const q = await udpQuery(dns, queryMessage("example.org.", "A"));
    assert.equal(q.reply.rcode, RCODE.NOERROR);
    const response = await fetch(`http://127.0.0.1:${pprof}/debug/pprof/`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
  };
  try {
    await waitFor("start", () => bannerPrinted(server));

    // A Corefile that does not load.
    await Deno.writeTextFile(
      `${files.dir}/Corefile`,
      `.:${dns} {\n    whoami\n    pprof /foo\n}\n`,
    );
    server.child.kill("SIGUSR1");
    await waitFor("the failure", () => server.stdout().includes("SIGUSR1: "));
    const message =
      "plugin/pprof: Corefile:3 - Error during parsing: address /foo: missing port in address";
    assert.ok(
      server.stdout().includes(
        `[INFO] Reloading\n[ERROR] Restart failed: ${
          message.replace("Corefile", `${files.dir}/Corefile`)
        }\n` +
          `[ERROR] SIGUSR1: ${
            message.replace("Corefile", `${files.dir}/Corefile`)
          }\n`,
      ),
      server.stdout(),
    );
    await serving();

    // A Corefile that loads, opens a new pprof listener, then cannot bind DNS.
    await Deno.writeTextFile(
      `${files.dir}/Corefile`,
      `.:${dns} {\n    whoami\n    pprof 127.0.0.1:${pprof2}\n}\n` +
        `example.org:${busy.addr.port} {\n    whoami\n}\n`,
    );
    server.child.kill("SIGUSR1");
    await waitFor(
      "the second failure",
      () =>
        count(server.stdout(), "[INFO] Reloading") === 2 &&
        server.stdout().split("\n").filter((l) =>
            l.startsWith("[ERROR] SIGUSR1:")
          ).length === 2,
    );
    assert.match(
      server.stdout(),
      new RegExp(
        `\\[ERROR\\] SIGUSR1: Listen: listen tcp :${busy.addr.port}: bind: address already in use`,
      ),
    );
    assert.ok(await refused(pprof2), "the new pprof listener was closed");
    await serving();

    // A good Corefile moves pprof: the old address closes, the new serves.
    await Deno.writeTextFile(
      `${files.dir}/Corefile`,
      `.:${dns} {\n    whoami\n    pprof 127.0.0.1:${pprof2}\n}\n`,
    );
    server.child.kill("SIGUSR1");
    await waitFor(
      "reload",
      () => server.stdout().includes("Reloading complete"),
    );
    const moved = await fetch(`http://127.0.0.1:${pprof2}/debug/pprof/`);
    assert.equal(moved.status, 200);
    await moved.body?.cancel();
    assert.ok(await refused(pprof));
    const q = await udpQuery(dns, queryMessage("example.org.", "A"));
    assert.equal(q.reply.rcode, RCODE.NOERROR);
  } finally {
    busy.close();
    await server.stop();
    files.cleanup();
  }
});

Deno.test("SIGUSR1 without a Corefile source says so and keeps running", async () => {
  const dir = tempFiles({});
  const server = spawnCoredeno(["-dns.port", "0"], { cwd: dir.dir });
  try {
    await waitFor("start", () => bannerPrinted(server));
    const dns = boundPorts(server.stdout).zonePort();
    server.child.kill("SIGUSR1");
    await waitFor("the error", () => server.stdout().includes("SIGUSR1: no"));
    assert.match(
      server.stdout(),
      /^\[INFO\] SIGUSR1: Reloading\n\[ERROR\] SIGUSR1: no Corefile loader with which to reload Corefile$/m,
    );
    const q = await udpQuery(dns, queryMessage("example.org.", "A"));
    assert.equal(q.reply.rcode, RCODE.NOERROR);
  } finally {
    await server.stop();
    dir.cleanup();
  }
});

Deno.test("the reload plugin restarts on a changed Corefile and logs its SHA512", async () => {
  // Ports written out: the reloads keep the first and add the second, and
  // a reload prints no zone lines to learn a bound port from.
  const dns = freePort();
  const dns2 = freePort();
  const busy = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const files = tempFiles({
    Corefile: `.:${dns} {\n    whoami\n    reload 2s 0\n}\n`,
  });
  const corefile = `${files.dir}/Corefile`;
  const server = spawnCoredeno(["-conf", corefile]);
  const shas = () =>
    [
      ...server.stdout().matchAll(
        /^\[INFO\] plugin\/reload: Running configuration SHA512 = ([0-9a-f]{128})$/gm,
      ),
    ].map((m) => m[1]);
  try {
    await waitFor("start", () => bannerPrinted(server));
    // The SHA line sits between the zone lines and the version banner.
    assert.match(
      server.stdout(),
      new RegExp(
        `^\\.:${dns}\\n\\[INFO\\] plugin/reload: Running configuration SHA512 = [0-9a-f]{128}\\ncoredeno-`,
        "m",
      ),
    );
    assert.equal(shas().length, 1);

    await Deno.writeTextFile(
      corefile,
      `.:${dns} {\n    whoami\n    reload 2s 0\n}\nexample.org:${dns2} {\n    whoami\n}\n`,
    );
    await waitFor("the reload", () => shas().length === 2, 10000);
    assert.notEqual(shas()[0], shas()[1]);
    const q = await udpQuery(dns2, queryMessage("example.org.", "A"));
    assert.equal(q.reply.rcode, RCODE.NOERROR);

    await Deno.writeTextFile(
      corefile,
      `.:${dns} {\n    whoami\n    reload 2s 0\n`,
    );
    await waitFor(
      "the parse warning",
      () =>
        server.stdout().includes(
          "[WARNING] plugin/reload: Corefile parse failed: ",
        ),
      10000,
    );

    await Deno.writeTextFile(
      corefile,
      `.:${dns} {\n    whoami\n    reload 2s 0\n}\nexample.org:${busy.addr.port} {\n    whoami\n}\n`,
    );
    const failed = () =>
      server.stdout().split("\n").filter((l) =>
        l.startsWith(
          "[ERROR] plugin/reload: Corefile changed but reload failed: ",
        )
      ).length;
    await waitFor("the failed reload", () => failed() === 1, 10000);
    // The same content is not tried again; the last good configuration serves.
    await new Promise((r) => setTimeout(r, 4500));
    assert.equal(failed(), 1);
    const still = await udpQuery(dns2, queryMessage("example.org.", "A"));
    assert.equal(still.reply.rcode, RCODE.NOERROR);
  } finally {
    busy.close();
    await server.stop();
    files.cleanup();
  }
});
