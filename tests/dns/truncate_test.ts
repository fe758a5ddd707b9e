/**
 * Truncation over UDP, then the full answer over TCP. None of coredeno's
 * plugins answers more than 512 bytes, so the test registers its own
 * directive, `bigtxt N`, and runs the real host in this process.
 */

import assert from "node:assert/strict";
import type { Handler } from "../../lib/dns/handler.ts";
import { MIN_MSG_SIZE, replyTo, type Rr } from "../../lib/dns/wire.ts";
import { setLogSink } from "../../lib/log.ts";
import { loadInstance } from "../../lib/server/instance.ts";
import type { Plugin } from "../../lib/server/plugin.ts";
import { DIRECTIVES, PLUGINS } from "../../plugins/mod.ts";
import { dig, digAvailable, queryMessage, tcpQuery, udpQuery } from "./_dns.ts";

const hasDig = digAvailable();

/** Answers N TXT records of 60 bytes each. */
const bigtxt: Plugin = {
  name: "bigtxt",
  setup(c) {
    c.dispenser.next();
    const count = Number(c.dispenser.remainingArgs()[0] ?? "40");
    c.use((): Handler => ({
      name: "bigtxt",
      async serveDNS(w, r) {
        const reply = replyTo(r.msg);
        const name = r.msg.question[0]!.name;
        reply.answer = Array.from({ length: count }, (_, i): Rr => ({
          type: "TXT",
          name,
          class: "IN",
          ttl: 60,
          data: [`record ${String(i).padStart(3, "0")} `.padEnd(60, "x")],
        }));
        await w.writeMsg(reply);
        return [0];
      },
    }));
  },
};

async function withServer(
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const restore = setLogSink(() => {});
  const instance = loadInstance("big.example:0 {\n    bigtxt 40\n}\n", {
    filename: "Corefile",
    directives: [...DIRECTIVES, "bigtxt"],
    plugins: [...PLUGINS, bigtxt],
    serveDns: true,
  });
  await instance.start();
  try {
    await fn(instance.listening()[0]!.port);
  } finally {
    await instance.stop();
    setLogSink(restore);
  }
}

Deno.test("a reply too big for UDP is truncated with TC; TCP gets it whole", async () => {
  await withServer(async (port) => {
    const plain = await udpQuery(port, queryMessage("big.example.", "TXT"));
    assert.equal(plain.reply.truncated, true);
    assert.ok(plain.size <= MIN_MSG_SIZE, `${plain.size} bytes`);
    assert.ok(plain.reply.answer.length > 0 && plain.reply.answer.length < 40);

    const edns = await udpQuery(
      port,
      queryMessage("big.example.", "TXT", {
        edns: { udpSize: 1232, version: 0, do: false, options: [] },
      }),
    );
    assert.equal(edns.reply.truncated, true);
    assert.ok(edns.size <= 1232, `${edns.size} bytes`);
    assert.ok(edns.reply.answer.length > plain.reply.answer.length);
    assert.equal(edns.reply.edns?.udpSize, 1232, "the OPT record stays");

    const large = await udpQuery(
      port,
      queryMessage("big.example.", "TXT", {
        edns: { udpSize: 4096, version: 0, do: false, options: [] },
      }),
    );
    assert.equal(large.reply.truncated, false);
    assert.equal(large.reply.answer.length, 40);

    const tcp = await tcpQuery(port, queryMessage("big.example.", "TXT"));
    assert.equal(tcp.reply.truncated, false);
    assert.equal(tcp.reply.answer.length, 40);
    assert.ok(tcp.size > 2000);
  });
});

Deno.test({
  name: "dig retries a truncated answer over TCP",
  ignore: !hasDig,
  async fn() {
    await withServer(async (port) => {
      const ignored = await dig(
        port,
        "+noedns",
        "+ignore",
        "big.example",
        "TXT",
      );
      assert.match(ignored, /flags: qr tc rd;/);
      assert.doesNotMatch(ignored, /ANSWER: 40,/);
      const retried = await dig(port, "+noedns", "big.example", "TXT");
      assert.match(retried, /Truncated, retrying in TCP mode/);
      assert.match(retried, /ANSWER: 40,/);
      assert.match(retried, /\(TCP\)/);
    });
  },
});
