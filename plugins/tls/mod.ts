/**
 * *tls*: `tls CERT KEY [CA] { client_auth nocert }`, the certificate of a
 * `tls://` (DNS over TLS) or `https://` (DNS over HTTPS) server block.
 * The files are read at setup, so a missing or unreadable certificate is a
 * Corefile error naming file and line; a certificate Deno cannot use fails
 * the start with the listener's error. Client certificates cannot be asked
 * for (Deno's TLS listeners have no such option), so `client_auth` other than
 * `nocert` is refused.
 */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import {
  registerCertificate,
  type TlsCertificate,
} from "../../lib/dns/transports.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const CLIENT_AUTH = new Set([
  "nocert",
  "request",
  "require",
  "verify_if_given",
  "require_and_verify",
]);

export interface TlsConfig extends TlsCertificate {
  ca?: string;
}

function read(
  d: Dispenser,
  what: string,
  path: string,
  readFile: (path: string) => string,
): string {
  try {
    return readFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? `open ${path}: no such file or directory`
      : (error as Error).message;
    throw d.err(`Could not load TLS ${what}: ${reason}`);
  }
}

/** Parses the block's `tls` line and reads its files. */
export function parseTls(
  d: Dispenser,
  readFile: (path: string) => string = Deno.readTextFileSync,
): TlsConfig | undefined {
  let config: TlsConfig | undefined;
  while (d.next()) {
    if (config !== undefined) {
      throw d.err("TLS already configured for this server instance");
    }
    const args = d.remainingArgs();
    if (args.length === 0) {
      throw d.err(
        "automatic certificates (ACME) are not available in coredeno: give CERT and KEY",
      );
    }
    if (args.length < 2 || args.length > 3) throw d.argErr();
    while (d.nextBlock()) {
      switch (d.val()) {
        case "client_auth": {
          const rest = d.remainingArgs();
          if (rest.length !== 1) throw d.argErr();
          if (!CLIENT_AUTH.has(rest[0]!)) {
            throw d.err(`unknown authentication type '${rest[0]}'`);
          }
          if (rest[0] !== "nocert") {
            throw d.err(
              `client_auth ${
                rest[0]
              } is not available in coredeno: Deno's TLS listeners cannot ask for client certificates`,
            );
          }
          break;
        }
        default:
          throw d.err(`unknown option '${d.val()}'`);
      }
    }
    const cert = read(d, "cert", args[0]!, readFile);
    const key = read(d, "key", args[1]!, readFile);
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) {
      throw d.err(
        `Could not load TLS cert: ${args[0]}: no PEM certificate found`,
      );
    }
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
      throw d.err(
        `Could not load TLS key: ${args[1]}: no PEM private key found`,
      );
    }
    config = { cert, key };
    if (args[2] !== undefined) config.ca = read(d, "CA", args[2], readFile);
  }
  return config;
}

function setup(c: Controller): void {
  const config = parseTls(c.dispenser);
  if (config === undefined) return;
  const unregister: (() => void)[] = [];
  c.onStartup(() => {
    for (const key of c.keys) unregister.push(registerCertificate(key, config));
  });
  c.onShutdown(() => {
    for (const release of unregister.splice(0)) release();
  });
}

export const tls: Plugin = { name: "tls", setup };
