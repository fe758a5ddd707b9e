/**
 * SIGUSR1 reloads of a resolver Corefile (forward to a real unbound, cache,
 * prometheus, hosts, DNS over TLS): DNS over UDP and TLS and `/metrics`
 * answer throughout, the metrics keep counting, and a reload to a Corefile
 * with a bad forward property fails with the plugin's error while the old
 * configuration keeps serving.
 */

import assert from "node:assert/strict";
import {
  bannerPrinted,
  freePort,
  spawnCoredeno,
  tempFiles,
  waitFor,
} from "../_helpers.ts";
import { digAvailable, queryMessage, udpQuery } from "../dns/_dns.ts";
import { startUnbound, unboundAvailable } from "../dns/_unbound.ts";

const hasUnbound = unboundAvailable();
const hasDig = digAvailable();

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

Deno.test({
  name:
    "forward, cache, prometheus and tls:// serve through SIGUSR1 reloads; a bad reload keeps the old configuration",
  ignore: !hasUnbound || !hasDig,
  async fn() {
    const unbound = await startUnbound();
    // Ports written out: a reload keeps an address's socket only for those.
    const [dns, dot, metrics] = [freePort(), freePort(), freePort()];
    const certs = new URL("../../plugins/tls/testdata/", import.meta.url)
      .pathname;
    const corefile = (extra = "") =>
      `.:${dns} {\n  prometheus 127.0.0.1:${metrics}\n  cache 30\n` +
      `  forward . 127.0.0.1:${unbound.port} {\n${extra}  }\n}\n` +
      `tls://.:${dot} {\n  tls ${certs}cert.pem ${certs}key.pem\n` +
      `  hosts {\n    10.0.0.1 www.example.org\n  }\n}\n`;
    const files = tempFiles({ Corefile: corefile() });
    const server = spawnCoredeno(["-conf", `${files.dir}/Corefile`], {
      cwd: files.dir,
    });
    await waitFor("the start", () => bannerPrinted(server));
    const failures: string[] = [];
    let stop = false;
    let queries = 0;
    const dnsLoop = (async () => {
      while (!stop) {
        try {
          const q = await udpQuery(dns, queryMessage("www.example.test.", "A"));
          if (q.reply.answer[0]?.data !== "192.0.2.1") {
            failures.push(`DNS ${q.reply.rcode}`);
          }
          queries++;
        } catch (error) {
          failures.push(`DNS: ${error}`);
        }
      }
    })();
    const metricsLoop = (async () => {
      while (!stop) {
        try {
          const response = await fetch(`http://127.0.0.1:${metrics}/metrics`);
          await response.text();
          if (response.status !== 200) failures.push(`HTTP ${response.status}`);
        } catch (error) {
          failures.push(`metrics: ${error}`);
        }
      }
    })();
    try {
      for (let i = 1; i <= 3; i++) {
        server.child.kill("SIGUSR1");
        await waitFor(
          `reload ${i}`,
          () => count(server.stdout(), "[INFO] Reloading complete") === i,
        );
        // DNS over TLS on the kept socket.
        const tls = await new Deno.Command("dig", {
          args: [
            `@127.0.0.1`,
            "-p",
            String(dot),
            "+tls",
            "+short",
            "+time=2",
            "www.example.org",
            "A",
          ],
          stdout: "piped",
        }).output();
        assert.equal(new TextDecoder().decode(tls.stdout).trim(), "10.0.0.1");
      }
      // A Corefile with a bad property: the reload fails, the old one serves.
      await Deno.writeTextFile(
        `${files.dir}/Corefile`,
        corefile("    policy fastest\n"),
      );
      server.child.kill("SIGUSR1");
      await waitFor(
        "the failed reload",
        () => server.stdout().includes("Restart failed"),
      );
      assert.match(
        server.stdout(),
        /\[ERROR\] Restart failed: plugin\/forward: .*Corefile:5 - Error during parsing: unknown policy 'fastest'/,
      );
      const after = await udpQuery(dns, queryMessage("www.example.test.", "A"));
      assert.equal(after.reply.answer[0]?.data, "192.0.2.1");
    } finally {
      stop = true;
      await Promise.all([dnsLoop, metricsLoop]);
    }
    try {
      assert.deepEqual(failures, []);
      assert.ok(queries > 10, `${queries} queries`);
      const body = await fetch(`http://127.0.0.1:${metrics}/metrics`).then((
        r,
      ) => r.text());
      const served = Number(
        new RegExp(
          `coredns_dns_requests_total\\{server="dns://:${dns}"[^}]*type="A"\\} (\\d+)`,
        )
          .exec(body)?.[1],
      );
      assert.ok(
        served >= queries,
        `counted across reloads: ${served} >= ${queries}`,
      );
    } finally {
      await server.stop();
      files.cleanup();
      await unbound.stop();
    }
  },
});
