import assert from "node:assert/strict";
import {
  CorefileError,
  groupServers,
  inspectServerBlocks,
  isValidZoneName,
  type ZoneConfig,
} from "../../lib/corefile/mod.ts";

function keys(list: string[], dnsPort?: string): string[] {
  const opts = dnsPort === undefined ? {} : { dnsPort };
  const [configs] = inspectServerBlocks(
    [{ keys: list, tokens: new Map() }],
    opts,
  );
  return configs!.map((c) => c.key);
}

function inspectError(list: string[]): string {
  try {
    inspectServerBlocks([{ keys: list, tokens: new Map() }]);
  } catch (e) {
    assert.ok(e instanceof CorefileError);
    return e.message;
  }
  throw new Error("expected an error");
}

const NORMALIZED: [string, string][] = [
  [".", "dns://.:53"],
  ["example.org", "dns://example.org.:53"],
  ["EXAMPLE.ORG", "dns://example.org.:53"],
  ["example.org.", "dns://example.org.:53"],
  ["example.org:1053", "dns://example.org.:1053"],
  ["example.org:01053", "dns://example.org.:1053"],
  ["example.org:+53", "dns://example.org.:53"],
  ["example.org:-1", "dns://example.org.:-1"],
  ["dns://example.org", "dns://example.org.:53"],
  ["tls://example.org", "tls://example.org.:853"],
  ["quic://example.org", "quic://example.org.:853"],
  ["grpc://example.org", "grpc://example.org.:443"],
  ["https://example.org", "https://example.org.:443"],
  ["https3://example.org", "https3://example.org.:443"],
  ["unix://example.org", "unix://example.org.:"],
  ["tls://example.org:5353", "tls://example.org.:5353"],
  // Schemes are case-sensitive: this is a dns zone named "dns://x".
  ["DNS://x", "dns://dns://x.:53"],
  // Atoi fails on "abc": the colon stays in the name.
  ["a:abc", "dns://a:abc.:53"],
  // Out of int64 range: Atoi fails too.
  ["a:99999999999999999999", "dns://a:99999999999999999999.:53"],
  ["/foo", "dns:///foo.:53"],
  ["{x}", "dns://{x}.:53"],
  ["a,b", "dns://a,b.:53"],
  ["(a)", "dns://(a).:53"],
  ["ex\\.ample", "dns://ex\\.ample.:53"],
  ["10.0.0.0/24", "dns://0.0.10.in-addr.arpa.:53"],
  ["10.0.0.1/24", "dns://0.0.10.in-addr.arpa.:53"],
  ["10.0.0.0/8", "dns://10.in-addr.arpa.:53"],
  ["10.0.0.0/32", "dns://0.0.0.10.in-addr.arpa.:53"],
  ["0.0.0.0/0", "dns://in-addr.arpa.:53"],
  ["10.0.0.0/24:1053", "dns://0.0.10.in-addr.arpa.:1053"],
  ["2001:db8::/32", "dns://8.b.d.0.1.0.0.2.ip6.arpa.:53"],
  ["2001:db8::/32:53", "dns://8.b.d.0.1.0.0.2.ip6.arpa.:53"],
  // Not a CIDR (leading zero in an IPv4 field, mask too big): a plain name.
  ["010.0.0.0/24", "dns://010.0.0.0/24.:53"],
  ["10.0.0.0/33", "dns://10.0.0.0/33.:53"],
];

Deno.test("inspectServerBlocks() normalizes keys like CoreDNS", async (t) => {
  for (const [key, want] of NORMALIZED) {
    await t.step(key, () => assert.deepEqual(keys([key]), [want]));
  }
});

Deno.test("inspectServerBlocks() splits CIDRs off 8/4-bit boundaries", () => {
  assert.deepEqual(keys(["10.0.0.0/23"]), [
    "dns://0.0.10.in-addr.arpa.:53",
    "dns://1.0.10.in-addr.arpa.:53",
  ]);
  const k27 = keys(["10.0.0.64/27"]);
  assert.equal(k27.length, 32);
  assert.equal(k27[0], "dns://64.0.0.10.in-addr.arpa.:53");
  assert.equal(k27[31], "dns://95.0.0.10.in-addr.arpa.:53");
  assert.deepEqual(keys(["10.0.0.0/15"]), [
    "dns://0.10.in-addr.arpa.:53",
    "dns://1.10.in-addr.arpa.:53",
  ]);
  assert.deepEqual(keys(["2001:db8::/30"]), [
    "dns://8.b.d.0.1.0.0.2.ip6.arpa.:53",
    "dns://9.b.d.0.1.0.0.2.ip6.arpa.:53",
    "dns://a.b.d.0.1.0.0.2.ip6.arpa.:53",
    "dns://b.b.d.0.1.0.0.2.ip6.arpa.:53",
  ]);
  assert.equal(keys(["2001:db8::/125"]).length, 8);
  assert.equal(keys(["10.0.0.0/1"]).length, 128);
});

Deno.test("CIDR expansions follow their key, before later keys", () => {
  assert.deepEqual(keys(["10.0.0.0/23", "example.org"]), [
    "dns://0.0.10.in-addr.arpa.:53",
    "dns://1.0.10.in-addr.arpa.:53",
    "dns://example.org.:53",
  ]);
});

Deno.test("inspectServerBlocks() applies dnsPort only to dns keys without a port", () => {
  assert.deepEqual(
    keys(["example.org", "example.net:2053", "tls://example.com"], "1053"),
    [
      "dns://example.org.:1053",
      "dns://example.net.:2053",
      "tls://example.com.:853",
    ],
  );
});

Deno.test("inspectServerBlocks() returns one config per key with its block", () => {
  const configs = inspectServerBlocks([
    { keys: ["a.example"], tokens: new Map() },
    { keys: ["tls://b.example:8853"], tokens: new Map() },
  ]);
  assert.deepEqual(configs, [
    [{
      transport: "dns",
      zone: "a.example.",
      port: "53",
      key: "dns://a.example.:53",
      block: 0,
    }],
    [{
      transport: "tls",
      zone: "b.example.",
      port: "8853",
      key: "tls://b.example.:8853",
      block: 1,
    }],
  ]);
});

const PREFIX = "error inspecting server blocks: ";

Deno.test("inspectServerBlocks() errors carry CoreDNS's messages", async (t) => {
  const cases: [string, string][] = [
    ["example.org:", 'expecting data after last colon: "example.org:"'],
    ["", 'expecting data after last colon: ""'],
    ["tls://", 'expecting data after last colon: ""'],
    [":1053", "zone is not a valid domain name: "],
    [".{", "zone is not a valid domain name: .{"],
    ["a..b", "zone is not a valid domain name: a..b"],
    [".a", "zone is not a valid domain name: .a"],
    ["::/0", "invalid CIDR ::/0"],
    ["0::/8", "invalid CIDR 0::/8"],
    ["::ffff:10.0.0.0/104", "invalid CIDR ::ffff:10.0.0.0/104"],
    ["a".repeat(256), "specified zone is too long: 256 > 255"],
    ["a".repeat(64), `zone is not a valid domain name: ${"a".repeat(64)}`],
    // 255 bytes pass; CoreDNS's second check, fully qualified, does not.
    [
      `${"a".repeat(63)}.`.repeat(4).slice(0, 255),
      "specified zone is too long: 256 > 255",
    ],
    // Length is counted in UTF-8 bytes.
    ["\u00e9".repeat(128), "specified zone is too long: 256 > 255"],
  ];
  for (const [key, msg] of cases) {
    await t.step(JSON.stringify(key).slice(0, 40), () => {
      assert.equal(inspectError([key]), PREFIX + msg);
    });
  }
});

Deno.test("isValidZoneName() is miekg/dns IsDomainName", () => {
  for (
    const ok of [
      ".",
      "a",
      "a.",
      "example.org",
      "/foo",
      "{x}",
      "}",
      "a,b",
      "a\\.b",
      "a\\065b",
      `${"a".repeat(63)}.b`,
      "a\\",
    ]
  ) {
    assert.equal(isValidZoneName(ok), true, ok);
  }
  for (
    const bad of [
      "",
      "..",
      ".a",
      "a..b",
      `${"a".repeat(64)}.b`,
      "a.".repeat(129),
    ]
  ) {
    assert.equal(isValidZoneName(bad), false, bad);
  }
});

function config(key: string, block = 0): ZoneConfig {
  const [c] = inspectServerBlocks([{ keys: [key], tokens: new Map() }])[0]!;
  return { ...c!, block };
}

Deno.test("groupServers() groups by transport and address in first-seen order", () => {
  const groups = groupServers([
    [config("example.org"), config("example.net:1053")],
    [config("tls://example.org", 1), config("example.com", 1)],
  ]);
  assert.deepEqual(
    groups.map((g) => [g.address, g.port, g.host, g.zones.map((z) => z.zone)]),
    [
      ["dns://:53", 53, "", ["example.org.", "example.com."]],
      ["dns://:1053", 1053, "", ["example.net."]],
      ["tls://:853", 853, "", ["example.org."]],
    ],
  );
  assert.equal(groups[2]!.transport, "tls");
});

Deno.test("groupServers() rejects bad ports before duplicates", () => {
  assert.throws(
    () =>
      groupServers([[config("example.org"), config("example.org")], [
        config("a:99999"),
      ]]),
    { name: "CorefileError", message: "address 99999: invalid port" },
  );
  assert.throws(() => groupServers([[config("a:-1")]]), {
    message: "address -1: invalid port",
  });
  assert.deepEqual(groupServers([[config("a:0")]]).map((g) => g.address), [
    "dns://:0",
  ]);
  assert.deepEqual(groupServers([[config("a:65535")]]).map((g) => g.address), [
    "dns://:65535",
  ]);
});

Deno.test("groupServers() rejects a zone defined twice on one listener", () => {
  assert.throws(
    () => groupServers([[config("example.org")], [config("EXAMPLE.org.", 1)]]),
    { message: "cannot serve dns://example.org.:53 - it is already defined" },
  );
  assert.throws(
    () =>
      groupServers(inspectServerBlocks([
        { keys: ["10.0.0.0/23"], tokens: new Map() },
        { keys: ["1.0.10.in-addr.arpa"], tokens: new Map() },
      ])),
    {
      message:
        "cannot serve dns://1.0.10.in-addr.arpa.:53 - it is already defined",
    },
  );
  // Same zone on another port or transport is fine.
  assert.equal(
    groupServers([[
      config("example.org"),
      config("example.org:1053"),
      config("tls://example.org"),
    ]]).length,
    3,
  );
});
