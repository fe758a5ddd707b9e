/**
 * *prometheus*: setup errors, `/metrics` of a coredeno that forwards (to a
 * real unbound) and caches, checked by `promtool check metrics`, and
 * scraped by Debian's `prometheus` server: the test reads the series back
 * from Prometheus' own HTTP API.
 */

import assert from "node:assert/strict";
import { Dispenser } from "../../lib/corefile/mod.ts";
import { tokenize } from "../../lib/corefile/lexer.ts";
import { parsePrometheus } from "../../plugins/prometheus/mod.ts";
import {
  freePort,
  startCoredeno,
  tempFiles,
  toolAvailable,
  waitFor,
} from "../_helpers.ts";
import { dig, digAvailable } from "../dns/_dns.ts";
import { startUnbound, unboundAvailable } from "../dns/_unbound.ts";

const hasUnbound = unboundAvailable();
const hasDig = digAvailable();

const hasPrometheus = toolAvailable("prometheus", ["--version"], {
  install: "prometheus",
  purpose: "the scrape test",
});

function dispenser(text: string): Dispenser {
  return new Dispenser("Corefile", tokenize(`\n${text}`, "Corefile"));
}

Deno.test("parsePrometheus() reads the address and rejects bad input naming file and line", async (t) => {
  const c = parsePrometheus(dispenser("prometheus"), ["dns://example.org.:53"]);
  assert.equal(c.address, "localhost:9153");
  assert.equal(c.port, 9153);
  assert.deepEqual(c.zones, ["example.org."]);
  assert.equal(
    parsePrometheus(dispenser("prometheus 127.0.0.1:9253"), ["dns://.:53"])
      .port,
    9253,
  );
  const cases: [string, string][] = [
    [
      "prometheus a:1 b:2",
      "Corefile:2 - Error during parsing: Wrong argument count",
    ],
    [
      "prometheus nohost",
      "Corefile:2 - Error during parsing: address nohost: missing port in address",
    ],
    [
      "prometheus :99999",
      'Corefile:2 - Error during parsing: address :99999: invalid port "99999"',
    ],
    [
      "prometheus {\n  bogus\n}",
      "Corefile:3 - Error during parsing: unknown option: bogus",
    ],
    [
      "prometheus\nprometheus",
      "this plugin can only be used once per Server Block",
    ],
  ];
  for (const [text, message] of cases) {
    await t.step(text, () => {
      assert.throws(
        () => parsePrometheus(dispenser(text), ["dns://.:53"]),
        (error: Error) =>
          error.message.startsWith(message) ||
          assert.fail(`${error.message}\n  does not start with\n${message}`),
      );
    });
  }
});

async function promtool(
  body: string,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(body));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    output: decoder.decode(out.stdout) + decoder.decode(out.stderr),
  };
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(port: number, promql: string): Promise<Sample[]> {
  const response = await fetch(
    `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`,
  );
  const json = await response.json();
  assert.equal(json.status, "success", JSON.stringify(json));
  return json.data.result;
}

Deno.test({
  name:
    "prometheus: /metrics passes promtool and Debian's prometheus scrapes CoreDNS's series",
  ignore: !hasUnbound || !hasDig || !hasPrometheus,
  async fn() {
    const unbound = await startUnbound();
    const server = await startCoredeno(
      `.:0 {\n  prometheus 127.0.0.1:0\n  errors\n  cache 30\n` +
        `  forward . 127.0.0.1:${unbound.port}\n}\n`,
    );
    const dnsPort = server.zonePort();
    const metricsPort = server.httpPort("prometheus");
    // A port written out: prometheus's own listener reports none it bound.
    const promPort = freePort();
    const files = tempFiles({
      "prometheus.yml": [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: coredeno",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${metricsPort}"]`,
        "",
      ].join("\n"),
    });
    let prometheus: Deno.ChildProcess | undefined;
    try {
      for (let i = 0; i < 3; i++) {
        assert.equal(
          (await dig(dnsPort, "www.example.test", "A", "+short")).trim(),
          "192.0.2.1",
        );
      }
      assert.match(
        await dig(dnsPort, "nx.example.test", "AAAA", "+tcp"),
        /NXDOMAIN/,
      );
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(response.status, 200);
      assert.match(
        response.headers.get("content-type")!,
        /^text\/plain; version=0\.0\.4/,
      );
      const body = await response.text();
      // The server label is the address as configured (CoreDNS's too).
      const server_ = `server="dns://:0"`;
      for (
        const line of [
          `coredns_dns_requests_total{${server_},zone=".",view="",proto="udp",family="1",type="A"} 3`,
          `coredns_dns_requests_total{${server_},zone=".",view="",proto="tcp",family="1",type="AAAA"} 1`,
          `coredns_dns_responses_total{${server_},zone=".",view="",rcode="NOERROR",plugin="cache"} 3`,
          `coredns_dns_responses_total{${server_},zone=".",view="",rcode="NXDOMAIN",plugin="cache"} 1`,
          `coredns_cache_hits_total{${server_},zones=".",view="",type="success"} 2`,
          `coredns_cache_misses_total{${server_},zones=".",view=""} 2`,
          `coredns_dns_request_duration_seconds_count{${server_},zone=".",view=""} 4`,
          `coredns_proxy_request_duration_seconds_count{proxy_name="forward",to="127.0.0.1:${unbound.port}",rcode="NOERROR"} 1`,
          `coredns_build_info{version="0.1.0",revision="",goversion="deno${Deno.version.deno}"} 1`,
          `coredns_plugin_enabled{${server_},zone=".",view="",name="forward"} 1`,
        ]
      ) assert.ok(body.includes(`\n${line}\n`), `${line} in\n${body}`);
      assert.match(
        body,
        /\ncoredns_dns_request_duration_seconds_bucket\{le="0\.00025",[^}]*\} \d+\n/,
      );
      assert.match(body, /\nprocess_cpu_seconds_total [\d.e-]+\n/);
      assert.match(body, /\nprocess_resident_memory_bytes \d+\n/);
      assert.doesNotMatch(body, /nodejs_/);
      const checked = await promtool(body);
      assert.equal(checked.code, 0, checked.output);
      // Anything else is Go's 404.
      const other = await fetch(`http://127.0.0.1:${metricsPort}/other`);
      assert.equal(other.status, 404);
      await other.body?.cancel();

      prometheus = new Deno.Command("prometheus", {
        args: [
          `--config.file=${files.dir}/prometheus.yml`,
          `--storage.tsdb.path=${files.dir}/data`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitFor("prometheus to scrape coredeno", async () => {
        try {
          const up = await query(promPort, 'up{job="coredeno"}');
          return up[0]?.value[1] === "1";
        } catch {
          return false;
        }
      }, 30_000);
      const requests = await query(
        promPort,
        `coredns_dns_requests_total{job="coredeno",type="A"}`,
      );
      assert.equal(requests.length, 1);
      assert.equal(requests[0]!.metric.server, "dns://:0");
      assert.equal(requests[0]!.metric.zone, ".");
      assert.equal(requests[0]!.metric.proto, "udp");
      assert.equal(requests[0]!.value[1], "3");
      const hits = await query(promPort, "sum(coredns_cache_hits_total)");
      assert.equal(hits[0]!.value[1], "2");
      const p99 = await query(
        promPort,
        "histogram_quantile(0.99, sum by (le) (coredns_dns_request_duration_seconds_bucket))",
      );
      assert.ok(Number(p99[0]!.value[1]) > 0, JSON.stringify(p99));
      const build = await query(promPort, "coredns_build_info");
      assert.equal(build[0]!.metric.version, "0.1.0");
    } finally {
      if (prometheus !== undefined) {
        prometheus.kill("SIGTERM");
        await prometheus.status;
      }
      await server.stop();
      server.cleanup();
      await unbound.stop();
      files.cleanup();
    }
  },
});
