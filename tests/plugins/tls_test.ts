/**
 * `tls://` (DNS over TLS) and `https://` (DNS over HTTPS, RFC 8484) server
 * blocks with the *tls* plugin, against real clients: `dig +tls` and
 * `dig +https` verifying the certificate against a CA made by `openssl`
 * here, and `fetch` for GET, POST and the error statuses. Bad certificates
 * and `quic://` fail with the reason.
 */

import assert from "node:assert/strict";
import { Dispenser } from "../../lib/corefile/mod.ts";
import { tokenize } from "../../lib/corefile/lexer.ts";
import { decodeMessage, encodeMessage } from "../../lib/dns/wire.ts";
import { parseTls } from "../../plugins/tls/mod.ts";
import {
  freePort,
  spawnCoredeno,
  startCoredeno,
  tempFiles,
  toolAvailable,
  waitFor,
} from "../_helpers.ts";
import { dig, digAvailable, queryMessage } from "../dns/_dns.ts";

const hasDig = digAvailable();

const hasOpenssl = toolAvailable("openssl", ["version"], {
  install: "openssl",
  purpose: "the TLS tests (they make certificates)",
});

function dispenser(text: string): Dispenser {
  return new Dispenser("Corefile", tokenize(`\n${text}`, "Corefile"));
}

/** A CA and a server certificate for 127.0.0.1 and localhost, in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  };
  await run(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=coredeno test CA",
  );
  await run(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  await Deno.writeTextFile(
    `${dir}/san.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "san.ext",
  );
}

Deno.test("parseTls() reads the files and rejects bad input naming file and line", async (t) => {
  const files = tempFiles({
    "cert.pem":
      "-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n",
    "key.pem":
      "-----BEGIN PRIVATE KEY-----\nMII...\n-----END PRIVATE KEY-----\n",
    "junk.pem": "not a certificate\n",
  });
  try {
    const config = parseTls(
      dispenser(`tls ${files.dir}/cert.pem ${files.dir}/key.pem`),
    );
    assert.match(config!.cert, /BEGIN CERTIFICATE/);
    const cases: [string, string][] = [
      [
        `tls ${files.dir}/missing.pem ${files.dir}/key.pem`,
        `Corefile:2 - Error during parsing: Could not load TLS cert: open ${files.dir}/missing.pem: no such file or directory`,
      ],
      [
        `tls ${files.dir}/junk.pem ${files.dir}/key.pem`,
        `Corefile:2 - Error during parsing: Could not load TLS cert: ${files.dir}/junk.pem: no PEM certificate found`,
      ],
      [
        `tls ${files.dir}/cert.pem ${files.dir}/junk.pem`,
        `Corefile:2 - Error during parsing: Could not load TLS key: ${files.dir}/junk.pem: no PEM private key found`,
      ],
      [
        "tls cert.pem",
        "Corefile:2 - Error during parsing: Wrong argument count",
      ],
      [
        "tls",
        "Corefile:2 - Error during parsing: automatic certificates (ACME) are not available in coredeno",
      ],
      [
        `tls ${files.dir}/cert.pem ${files.dir}/key.pem {\n  client_auth require\n}`,
        "Corefile:3 - Error during parsing: client_auth require is not available in coredeno",
      ],
      [
        `tls ${files.dir}/cert.pem ${files.dir}/key.pem {\n  client_auth maybe\n}`,
        "Corefile:3 - Error during parsing: unknown authentication type 'maybe'",
      ],
      [
        `tls ${files.dir}/cert.pem ${files.dir}/key.pem {\n  bogus\n}`,
        "Corefile:3 - Error during parsing: unknown option 'bogus'",
      ],
    ];
    for (const [text, message] of cases) {
      await t.step(text.replaceAll(files.dir, "DIR"), () => {
        assert.throws(
          () => parseTls(dispenser(text)),
          (error: Error) =>
            error.message.startsWith(message) ||
            assert.fail(`${error.message}\n  does not start with\n${message}`),
        );
      });
    }
  } finally {
    files.cleanup();
  }
});

Deno.test("tls:// without a certificate and quic:// refuse to start, saying why", async () => {
  for (
    const [key, reason] of [
      [
        "tls://.",
        /cannot serve tls:\/\/:\d+: no TLS certificate; add "tls CERT KEY" to its server block/,
      ],
      [
        "quic://.",
        /cannot serve quic:\/\/:\d+: DNS over QUIC is not available in coredeno: Deno 2\.9\.6's QUIC API/,
      ],
    ] as const
  ) {
    const files = tempFiles({
      Corefile: `${key}:0 {\n  whoami\n}\n`,
    });
    try {
      const server = spawnCoredeno(["-conf", `${files.dir}/Corefile`], {
        cwd: files.dir,
      });
      const status = await server.status;
      assert.equal(status.code, 1);
      assert.match(server.stderr() + server.stdout(), reason);
    } finally {
      files.cleanup();
    }
  }
});

Deno.test({
  name:
    "dig +tls and dig +https (POST and GET) get answers from coredeno, verifying its certificate",
  ignore: !hasDig || !hasOpenssl,
  async fn() {
    const files = tempFiles({});
    await makeCertificates(files.dir);
    const hostsBlock = (more = "") =>
      `  hosts {\n    10.0.0.1 www.example.org\n    ttl 120\n${more}  }\n`;
    const server = await startCoredeno(
      `tls://.:0 {\n  tls ${files.dir}/server.pem ${files.dir}/server.key\n${
        hostsBlock("    fallthrough\n")
      }  whoami\n}\n` +
        `https://.:0 {\n  tls ${files.dir}/server.pem ${files.dir}/server.key\n${hostsBlock()}}\n`,
    );
    const [dot, doh] = [
      server.zonePort("tls://."),
      server.zonePort("https://."),
    ];
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${files.dir}/ca.pem`)],
    });
    try {
      const verify = [`+tls-ca=${files.dir}/ca.pem`, "+tls-hostname=localhost"];
      const overTls = await dig(dot, "+tls", ...verify, "www.example.org", "A");
      assert.match(overTls, /status: NOERROR/);
      assert.match(overTls, /www\.example\.org\.\s+120\s+IN\s+A\s+10\.0\.0\.1/);
      assert.match(overTls, /SERVER: 127\.0\.0\.1#\d+\(127\.0\.0\.1\) \(TLS\)/);
      // Two queries on one TLS connection (dig +keepopen), whoami sees TCP.
      const both = await dig(
        dot,
        "+tls",
        ...verify,
        "+keepopen",
        "www.example.org",
        "A",
        "x.example.net",
        "A",
      );
      assert.match(both, /_tcp\.x\.example\.net\./);

      for (const mode of ["+https", "+https-get"]) {
        const overHttps = await dig(
          doh,
          mode,
          ...verify,
          "www.example.org",
          "A",
        );
        assert.match(overHttps, /status: NOERROR/, overHttps);
        assert.match(
          overHttps,
          /www\.example\.org\.\s+120\s+IN\s+A\s+10\.0\.0\.1/,
        );
        assert.match(overHttps, /\(HTTPS(-GET)?\)/);
      }

      const url = `https://localhost:${doh}/dns-query`;
      const query = encodeMessage(
        queryMessage("www.example.org.", "A", { id: 0 }),
      );
      const post = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/dns-message" },
        body: query as Uint8Array<ArrayBuffer>,
        client,
      });
      assert.equal(post.status, 200);
      assert.equal(post.headers.get("content-type"), "application/dns-message");
      assert.equal(post.headers.get("cache-control"), "max-age=120");
      const reply = decodeMessage(new Uint8Array(await post.arrayBuffer()));
      assert.equal(reply.answer[0]?.data, "10.0.0.1");
      const b64 = btoa(String.fromCharCode(...query)).replaceAll("+", "-")
        .replaceAll("/", "_").replace(/=+$/, "");
      const get = await fetch(`${url}?dns=${b64}`, { client });
      assert.equal(get.status, 200);
      assert.equal(
        decodeMessage(new Uint8Array(await get.arrayBuffer())).answer[0]?.data,
        "10.0.0.1",
      );
      for (
        const [init, path, status] of [
          [{}, "/dns-query?dns=***", 400],
          [
            {
              method: "POST",
              headers: { "content-type": "text/plain" },
              body: "x",
            },
            "/dns-query",
            400,
          ],
          [{}, "/other", 404],
          [{ method: "PUT", body: "x" }, "/dns-query", 405],
        ] as const
      ) {
        const response = await fetch(`https://localhost:${doh}${path}`, {
          ...init,
          client,
        });
        assert.equal(
          response.status,
          status,
          `${path} ${JSON.stringify(init)}`,
        );
        await response.body?.cancel();
      }
    } finally {
      client.close();
      await server.stop();
      server.cleanup();
      files.cleanup();
    }
  },
});

Deno.test({
  name:
    "forward to a tls:// upstream (coredeno's own DNS over TLS) verifies its certificate against the CA given",
  ignore: !hasDig || !hasOpenssl,
  async fn() {
    const files = tempFiles({});
    await makeCertificates(files.dir);
    const upstream = await startCoredeno(
      `tls://.:0 {\n  tls ${files.dir}/server.pem ${files.dir}/server.key\n` +
        `  hosts {\n    10.0.0.7 secure.example.org\n  }\n}\n`,
    );
    const dot = upstream.zonePort("tls://.");
    // Ports written out: two blocks for one zone need two addresses (two
    // `.:0` would be one), and there is no bind plugin to tell them apart.
    const [good, wrong] = [freePort(), freePort()];
    const forwarder = await startCoredeno(
      [[good, "localhost"], [wrong, "wrong.name"]].map(([port, name]) =>
        `.:${port} {\n  errors\n  forward . tls://127.0.0.1:${dot} {\n    tls ${files.dir}/ca.pem\n` +
        `    tls_servername ${name}\n    max_fails 0\n  }\n}\n`
      ).join(""),
    );
    try {
      assert.equal(
        (await dig(good, "secure.example.org", "A", "+short")).trim(),
        "10.0.0.7",
      );
      assert.equal(
        (await dig(good, "secure.example.org", "A", "+short", "+tcp")).trim(),
        "10.0.0.7",
      );
      // The name the certificate is not for: the handshake fails, SERVFAIL and a logged error.
      assert.match(
        await dig(wrong, "secure.example.org", "A", "+time=6"),
        /status: SERVFAIL/,
      );
      await waitFor(
        "the error line",
        () =>
          /\[ERROR\] plugin\/errors: 2 secure\.example\.org\. A: /.test(
            forwarder.stdout(),
          ),
        5000,
      );
      assert.match(
        forwarder.stdout(),
        /\[ERROR\] plugin\/errors: 2 secure\.example\.org\. A: .*[Cc]ertificate/,
      );
    } finally {
      await forwarder.stop();
      forwarder.cleanup();
      await upstream.stop();
      upstream.cleanup();
      files.cleanup();
    }
  },
});
