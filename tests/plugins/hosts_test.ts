/**
 * *hosts*, *loadbalance* and *loop* through coredeno and `dig`: A, AAAA and
 * PTR answers from a hosts file and inline entries, the file re-read when it
 * changes, malformed lines skipped with a warning, fallthrough; addresses
 * shuffled; a forwarding loop to itself detected (exit 1), none without
 * one. And the Docker-default and Kubernetes-default Corefiles (kubernetes
 * replaced by hosts) load and answer.
 */

import assert from "node:assert/strict";
import { Dispenser } from "../../lib/corefile/mod.ts";
import { tokenize } from "../../lib/corefile/lexer.ts";
import type { Rr } from "../../lib/dns/wire.ts";
import { setLogSink } from "../../lib/log.ts";
import { parseHosts } from "../../plugins/hosts/mod.ts";
import { parseLoadbalance, roundRobin } from "../../plugins/loadbalance/mod.ts";
import {
  freePort,
  spawnCoredeno,
  startCoredeno,
  tempFiles,
  waitFor,
} from "../_helpers.ts";
import { dig, digAvailable } from "../dns/_dns.ts";
import { startUnbound, unboundAvailable } from "../dns/_unbound.ts";

const hasDig = digAvailable();
const hasUnbound = unboundAvailable();

function dispenser(text: string): Dispenser {
  return new Dispenser("Corefile", tokenize(`\n${text}`, "Corefile"));
}

Deno.test("parseHosts() and parseLoadbalance() reject bad input naming file and line", async (t) => {
  const warnings: string[] = [];
  const restore = setLogSink((line) => warnings.push(line));
  const c = parseHosts(
    dispenser(
      "hosts /nonexistent/hosts example.org {\n  10.0.0.1 a.example.org b.example.org\n" +
        "  ttl 60\n  reload 1s\n  no_reverse\n  fallthrough\n}",
    ),
    ["dns://.:53"],
  );
  setLogSink(restore);
  assert.deepEqual(warnings, [
    "[WARNING] plugin/hosts: File does not exist: /nonexistent/hosts",
  ]);
  assert.equal(c.path, "/nonexistent/hosts");
  assert.deepEqual(c.zones, ["example.org."]);
  assert.deepEqual(c.inline, ["10.0.0.1 a.example.org b.example.org"]);
  assert.equal(c.ttl, 60);
  assert.equal(c.reloadMs, 1000);
  assert.equal(c.autoReverse, false);
  assert.deepEqual(c.fallthrough, []);
  const cases: [string, string][] = [
    [
      "hosts {\n  ttl 0\n}",
      "Corefile:3 - Error during parsing: ttl provided is invalid",
    ],
    [
      "hosts {\n  ttl 70000\n}",
      "Corefile:3 - Error during parsing: ttl provided is invalid",
    ],
    [
      "hosts {\n  ttl soon\n}",
      "Corefile:3 - Error during parsing: ttl needs a number of second",
    ],
    [
      "hosts {\n  reload often\n}",
      "Corefile:3 - Error during parsing: invalid duration for reload 'often'",
    ],
    [
      "hosts {\n  reload -1s\n}",
      "Corefile:3 - Error during parsing: invalid negative duration for reload '-1s'",
    ],
    [
      "hosts {\n  fallthrough\n  bogus\n}",
      "Corefile:4 - Error during parsing: unknown property 'bogus'",
    ],
    [
      "hosts {\n  10.0.0.300 bad.example.org\n}",
      "Corefile:3 - Error during parsing: not a hosts entry: '10.0.0.300 bad.example.org'",
    ],
    ["hosts\nhosts", "this plugin can only be used once per Server Block"],
  ];
  for (const [text, message] of cases) {
    await t.step(text, () => {
      assert.throws(
        () => parseHosts(dispenser(text), ["dns://.:53"]),
        (error: Error) =>
          error.message.startsWith(message) ||
          assert.fail(`${error.message}\n  does not start with\n${message}`),
      );
    });
  }
  for (
    const [text, message] of [
      [
        "loadbalance weighted w.txt",
        "Corefile:2 - Error during parsing: policy 'weighted' is not available",
      ],
      [
        "loadbalance random",
        "Corefile:2 - Error during parsing: unknown policy: random",
      ],
      [
        "loadbalance {\n  prefer 10.0.0.0/33\n}",
        'Corefile:3 - Error during parsing: invalid CIDR "10.0.0.0/33"',
      ],
    ]
  ) {
    assert.throws(
      () => parseLoadbalance(dispenser(text!)),
      (error: Error) =>
        error.message.startsWith(message!) || assert.fail(error.message),
    );
  }
});

Deno.test("roundRobin() shuffles addresses and keeps CNAMEs first", () => {
  const rr = (type: string, data: string): Rr => ({
    name: "a.",
    type,
    class: "IN",
    ttl: 1,
    data,
  });
  const addresses = Array.from({ length: 8 }, (_, i) => rr("A", `10.0.0.${i}`));
  const firsts = new Set<unknown>();
  for (let i = 0; i < 50; i++) {
    const out = roundRobin([rr("CNAME", "b."), ...addresses]);
    assert.equal(out[0]!.type, "CNAME");
    assert.deepEqual(
      out.slice(1).map((r) => r.data).sort(),
      addresses.map((r) => r.data).sort(),
    );
    firsts.add(out[1]!.data);
  }
  assert.ok(firsts.size > 2, `the first address varies: ${[...firsts]}`);
});

Deno.test({
  name:
    "hosts: dig gets A, AAAA and PTR answers; the file is re-read when it changes; bad lines are skipped with a warning",
  ignore: !hasDig,
  async fn() {
    const files = tempFiles({
      hosts:
        "# a comment\n10.0.0.1 www.example.org www\n2001:db8::1 www.example.org\n" +
        "this is not a hosts line\n10.0.0.2 mail.example.org # trailing comment\n",
    });
    const server = await startCoredeno(
      `example.org:0 0.0.10.in-addr.arpa:0 {\n  errors\n  loadbalance\n` +
        `  hosts ${files.dir}/hosts {\n    10.0.0.5 inline.example.org\n` +
        ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15"].map((
          ip,
        ) => `    ${ip} many.example.org\n`).join("") +
        `    ttl 60\n    reload 100ms\n  }\n}\n` +
        `other.example:0 {\n  hosts ${files.dir}/hosts {\n    fallthrough\n  }\n  whoami\n}\n`,
    );
    const port = server.zonePort("example.org.");
    try {
      assert.equal(
        (await dig(port, "www.example.org", "A", "+short")).trim(),
        "10.0.0.1",
      );
      assert.equal(
        (await dig(port, "WWW.example.org", "AAAA", "+short", "+tcp")).trim(),
        "2001:db8::1",
      );
      assert.equal(
        (await dig(port, "inline.example.org", "A", "+short")).trim(),
        "10.0.0.5",
      );
      assert.equal(
        (await dig(port, "-x", "10.0.0.2", "+short")).trim(),
        "mail.example.org.",
      );
      const full = await dig(port, "www.example.org", "A");
      assert.match(full, /flags: qr aa rd;/);
      assert.match(full, /www\.example\.org\.\s+60\s+IN\s+A\s+10\.0\.0\.1/);
      // A name with an A record but no AAAA: NODATA. An unknown name: SERVFAIL (no SOA to deny with).
      assert.match(
        await dig(port, "mail.example.org", "AAAA"),
        /status: NOERROR.*\n.*ANSWER: 0/,
      );
      assert.match(
        await dig(port, "nope.example.org", "A"),
        /status: SERVFAIL/,
      );
      assert.match(
        server.stdout(),
        /\[WARNING\] plugin\/hosts: .*hosts:4: not a hosts entry, skipped: 'this is not a hosts line'/,
      );
      // loadbalance: the first of five addresses varies.
      const firsts = new Set<string>();
      for (let i = 0; i < 12 && firsts.size < 2; i++) {
        firsts.add(
          (await dig(port, "many.example.org", "A", "+short")).split("\n")[0]!,
        );
      }
      assert.ok(firsts.size >= 2, `shuffled: ${[...firsts]}`);
      // fallthrough: whoami answers what hosts does not know.
      assert.match(
        await dig(port, "x.other.example", "A"),
        /_udp\.x\.other\.example\./,
      );

      await Deno.writeTextFile(
        `${files.dir}/hosts`,
        "10.0.0.9 www.example.org\n",
      );
      await waitFor(
        "the hosts file to be re-read",
        async () =>
          (await dig(port, "www.example.org", "A", "+short")).trim() ===
            "10.0.0.9",
        10_000,
      );
      await Deno.remove(`${files.dir}/hosts`);
      await waitFor(
        "the warning",
        () => /Cannot read hosts file/.test(server.stdout()),
        5000,
      );
      assert.equal(
        (await dig(port, "www.example.org", "A", "+short")).trim(),
        "10.0.0.9",
        "the last good data stays",
      );
    } finally {
      await server.stop();
      server.cleanup();
      files.cleanup();
    }
  },
});

Deno.test({
  name:
    "loop: forwarding to itself is detected and the process exits 1; forwarding elsewhere is not a loop",
  ignore: !hasUnbound || !hasDig,
  async fn() {
    // A port written out: the Corefile forwards to its own address.
    const port = freePort();
    const files = tempFiles({
      Corefile: `.:${port} {\n  loop\n  forward . 127.0.0.1:${port}\n}\n`,
    });
    const looping = spawnCoredeno(["-conf", `${files.dir}/Corefile`], {
      cwd: files.dir,
    });
    const timer = setTimeout(() => looping.stop(), 20_000);
    try {
      const status = await looping.status;
      assert.equal(status.code, 1, looping.stdout() + looping.stderr());
      assert.match(
        looping.stdout(),
        new RegExp(
          `\\[FATAL\\] plugin/loop: Loop \\(127\\.0\\.0\\.1:\\d+ -> :${port}\\) detected for zone "\\.", ` +
            `see https://coredns\\.io/plugins/loop#troubleshooting\\. Query: "HINFO \\d+\\.\\d+\\."`,
        ),
      );
    } finally {
      clearTimeout(timer);
      files.cleanup();
    }

    await using unbound = await startUnbound();
    await using server = await startCoredeno(
      `.:0 {\n  loop\n  forward . 127.0.0.1:${unbound.port}\n}\n`,
    );
    const other = server.zonePort();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      (await dig(other, "www.example.test", "A", "+short")).trim(),
      "192.0.2.1",
    );
    assert.doesNotMatch(server.stdout(), /FATAL/);
  },
});

Deno.test({
  name:
    "the Docker-default and Kubernetes-default Corefiles (kubernetes → hosts) load and answer",
  ignore: !hasUnbound || !hasDig,
  async fn() {
    await using unbound = await startUnbound();
    const files = tempFiles({
      hosts: "10.96.0.10 kube-dns.kube-system.svc.cluster.local\n",
    });
    try {
      // Kubernetes' default, with the kubernetes plugin replaced by hosts and
      // the fixed ports moved to ports of the kernel's choosing on loopback.
      const kubernetes = `.:0 {
    errors
    health 127.0.0.1:0 {
       lameduck 5s
    }
    ready 127.0.0.1:0
    hosts ${files.dir}/hosts cluster.local in-addr.arpa ip6.arpa {
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus 127.0.0.1:0
    forward . 127.0.0.1:${unbound.port} {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`;
      {
        await using k8s = await startCoredeno(kubernetes);
        const [dns, health, ready, metrics] = [
          k8s.zonePort(),
          k8s.httpPort("health"),
          k8s.httpPort("ready"),
          k8s.httpPort("prometheus"),
        ];
        assert.equal(
          (await dig(
            dns,
            "kube-dns.kube-system.svc.cluster.local",
            "A",
            "+short",
          )).trim(),
          "10.96.0.10",
        );
        assert.equal(
          (await dig(dns, "-x", "10.96.0.10", "+short")).trim(),
          "kube-dns.kube-system.svc.cluster.local.",
        );
        assert.equal(
          (await dig(dns, "www.example.test", "A", "+short")).trim(),
          "192.0.2.1",
        );
        assert.match(
          await dig(dns, "-x", "192.0.2.1"),
          /status: (NXDOMAIN|NOERROR)/,
          "fallthrough to forward",
        );
        assert.equal(
          await fetch(`http://127.0.0.1:${health}/health`).then((r) =>
            r.text()
          ),
          "OK",
        );
        assert.equal(
          (await fetch(`http://127.0.0.1:${ready}/ready`)).status,
          200,
        );
        assert.match(
          await fetch(`http://127.0.0.1:${metrics}/metrics`).then((r) =>
            r.text()
          ),
          /coredns_dns_requests_total/,
        );
      }
      // Docker Desktop's: forward to the host's resolver, with a cache.
      {
        await using docker = await startCoredeno(
          `.:0 {\n    errors\n    forward . 127.0.0.1:${unbound.port}\n    cache 30\n    loadbalance\n    reload\n}\n`,
        );
        const port = docker.zonePort();
        assert.equal(
          (await dig(port, "www.example.test", "A", "+short")).trim(),
          "192.0.2.1",
        );
        assert.equal(
          (await dig(port, "www.example.test", "AAAA", "+short", "+tcp"))
            .trim(),
          "2001:db8::1",
        );
      }
    } finally {
      files.cleanup();
    }
  },
});
