/** Table tests for the pieces behind the DNS output: log rendering, response classes, the reload hash, truncation. */

import assert from "node:assert/strict";
import { parseCorefile } from "../../lib/corefile/mod.ts";
import { type DnsRequest, Recorder } from "../../lib/dns/handler.ts";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  RCODE,
  replyTo,
  type Rr,
  truncateMessage,
} from "../../lib/dns/wire.ts";
import { classify, renderFormat } from "../../plugins/log/mod.ts";
import { configSha512 } from "../../plugins/reload/mod.ts";
import { queryMessage } from "./_dns.ts";

function request(msg: Message, proto: "udp" | "tcp" = "udp"): DnsRequest {
  return {
    msg,
    length: encodeMessage(msg).length,
    proto,
    remote: { ip: "::1", port: 5353 },
    local: { ip: "::1", port: 53 },
  };
}

Deno.test("log placeholders render as CoreDNS's replacer does", async () => {
  const r = request(queryMessage("Example.ORG.", "UNKNOWN_65280", { id: 42 }));
  const rec = new Recorder({ writeMsg: () => Promise.resolve() });
  const before = renderFormat(
    "{remote}:{port} {>id} {type} {class} {name} {rcode} {>rflags} {rsize} {duration} {/meta} {unknown}",
    r,
    rec,
  );
  assert.equal(
    before,
    "[::1]:5353 42 TYPE65280 IN example.org. - - - - - {unknown}",
  );
  const reply = replyTo(r.msg, RCODE.NXDOMAIN);
  reply.authoritative = true;
  await rec.writeMsg(reply);
  assert.equal(
    renderFormat(
      "{rcode} {>rflags} {rsize} {duration}",
      r,
      rec,
      rec.start + 1.5,
    ),
    `NXDOMAIN qr,aa,rd ${encodeMessage(reply).length} 0.0015s`,
  );
});

Deno.test("responses are classified as CoreDNS's log classes", () => {
  const q = queryMessage("example.org.", "A");
  const a: Rr = { type: "A", name: "example.org.", ttl: 1, data: "1.2.3.4" };
  const soa: Rr = {
    type: "SOA",
    name: "example.org.",
    ttl: 1,
    data: {
      mname: "ns.",
      rname: "h.",
      serial: 1,
      refresh: 1,
      retry: 1,
      expire: 1,
      minimum: 1,
    },
  };
  const cases: [string, Partial<Message>, string][] = [
    ["answer", { answer: [a] }, "success"],
    ["empty NOERROR", {}, "success"],
    ["NODATA", { ns: [soa] }, "denial"],
    ["NXDOMAIN", { rcode: RCODE.NXDOMAIN, ns: [soa] }, "denial"],
    ["SERVFAIL", { rcode: RCODE.SERVFAIL }, "error"],
  ];
  for (const [what, fields, expected] of cases) {
    assert.equal(classify({ ...replyTo(q), ...fields }), expected, what);
  }
  assert.equal(classify(undefined), "error", "nothing written");
});

Deno.test("the reload hash is SHA512 over Go's JSON of the parsed blocks", async () => {
  const blocks = parseCorefile(
    "example.org {\n    whoami\n    log <x>\n}\n",
    { filename: "Corefile", directives: new Set(["whoami", "log"]) },
  );
  // Go sorts map keys and escapes <, > and & in strings.
  const json = '[{"Keys":["example.org"],"Tokens":{' +
    '"log":[{"File":"Corefile","Line":3,"Text":"log"},{"File":"Corefile","Line":3,"Text":"\\u003cx\\u003e"}],' +
    '"whoami":[{"File":"Corefile","Line":2,"Text":"whoami"}]}}]';
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-512", new TextEncoder().encode(json)),
  );
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
  assert.equal(await configSha512(blocks), hex);
});

Deno.test("truncation keeps whole records, sets TC, and keeps OPT", () => {
  const reply = replyTo(queryMessage("t.example.", "TXT"));
  reply.answer = Array.from({ length: 20 }, (_, i): Rr => ({
    type: "TXT",
    name: "t.example.",
    ttl: 0,
    data: [`${i}`.padEnd(50, ".")],
  }));
  reply.edns = { udpSize: 512, version: 0, do: false, options: [] };
  truncateMessage(reply, 512);
  const bytes = encodeMessage(reply);
  assert.ok(bytes.length <= 512, `${bytes.length}`);
  const decoded = decodeMessage(bytes);
  assert.equal(decoded.truncated, true);
  assert.ok(decoded.answer.length > 0 && decoded.answer.length < 20);
  assert.equal(decoded.edns?.udpSize, 512);

  const small = replyTo(queryMessage("t.example.", "TXT"));
  truncateMessage(small, 512);
  assert.equal(small.truncated, false);
});
