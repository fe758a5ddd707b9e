/**
 * *hosts*: `hosts [FILE [ZONES...]] { INLINE; ttl SECONDS; reload DURATION;
 * no_reverse; fallthrough [ZONES...] }`, CoreDNS's /etc/hosts-style zone
 * data: A and AAAA answers for the names, PTR answers for the addresses
 * (unless `no_reverse`). The file is read at startup and again when its
 * modification time or size changed (checked every `reload`, default 5s);
 * lines that are not `ADDRESS NAME...` are skipped with a logged warning.
 */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import { fqdn } from "../../lib/corefile/keys.ts";
import {
  type DnsRequest,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qname,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import {
  addressFromReverse,
  canonicalIP,
  isIPv4,
} from "../../lib/dns/ip_names.ts";
import { gauge } from "../../lib/dns/metrics.ts";
import { matchZone, normalizeZones } from "../../lib/dns/names.ts";
import { RCODE, replyTo, type Rr } from "../../lib/dns/wire.ts";
import { parseDuration } from "../../lib/duration.ts";
import { pluginLogger } from "../../lib/log.ts";
import { OnceError } from "../../lib/server/errors.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const logger = pluginLogger("hosts");

export interface HostsConfig {
  path: string;
  zones: string[];
  inline: string[];
  /** The line of each inline entry, for warnings. */
  inlineLines: number[];
  ttl: number;
  reloadMs: number;
  autoReverse: boolean;
  /** undefined: no fallthrough; empty: every zone. */
  fallthrough: string[] | undefined;
  file: string;
}

/** Parses the block's `hosts` line; `keys` are the server block's zones. */
export function parseHosts(
  d: Dispenser,
  keys: readonly string[],
  stat: (path: string) => Deno.FileInfo = Deno.statSync,
): HostsConfig {
  const c: HostsConfig = {
    path: "/etc/hosts",
    zones: [],
    inline: [],
    inlineLines: [],
    ttl: 3600,
    reloadMs: 5000,
    autoReverse: true,
    fallthrough: undefined,
    file: d.file(),
  };
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    c.file = d.file();
    const args = d.remainingArgs();
    if (args.length >= 1) {
      c.path = args.shift()!;
      try {
        if (stat(c.path).isDirectory) {
          logger.warning(`Hosts file "${c.path}" is a directory`);
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          throw d.err(
            `unable to access hosts file '${c.path}': ${
              (error as Error).message
            }`,
          );
        }
        logger.warning(`File does not exist: ${c.path}`);
      }
    }
    c.zones = [
      ...new Set((args.length > 0 ? args : keys).flatMap(normalizeZones)),
    ];
    while (d.nextBlock()) {
      const property = d.val();
      switch (property) {
        case "fallthrough":
          c.fallthrough = d.remainingArgs().flatMap(normalizeZones);
          break;
        case "no_reverse":
          c.autoReverse = false;
          break;
        case "ttl": {
          const rest = d.remainingArgs();
          if (rest.length < 1) throw d.err("ttl needs a time in second");
          if (!/^[+-]?\d+$/.test(rest[0]!)) {
            throw d.err("ttl needs a number of second");
          }
          const ttl = Number(rest[0]);
          if (ttl <= 0 || ttl > 65535) throw d.err("ttl provided is invalid");
          c.ttl = ttl;
          break;
        }
        case "reload": {
          const rest = d.remainingArgs();
          if (rest.length !== 1) {
            throw d.err("reload needs a duration (zero seconds to disable)");
          }
          let nanos: number;
          try {
            nanos = parseDuration(rest[0]!);
          } catch {
            throw d.err(`invalid duration for reload '${rest[0]}'`);
          }
          if (nanos < 0) {
            throw d.err(`invalid negative duration for reload '${rest[0]}'`);
          }
          c.reloadMs = nanos / 1e6;
          break;
        }
        default: {
          if (c.fallthrough !== undefined) {
            throw d.err(`unknown property '${property}'`);
          }
          const line = d.line();
          const entry = [property, ...d.remainingArgs()];
          if (canonicalIP(property) === undefined || entry.length < 2) {
            throw d.err(
              `not a hosts entry: '${entry.join(" ")}' (want ADDRESS NAME...)`,
            );
          }
          c.inline.push(entry.join(" "));
          c.inlineLines.push(line);
        }
      }
    }
  }
  return c;
}

/** Names by address and addresses by name, from hosts-format text. */
export class HostsMap {
  readonly name4 = new Map<string, string[]>();
  readonly name6 = new Map<string, string[]>();
  readonly addr = new Map<string, string[]>();

  get size(): number {
    return this.name4.size + this.name6.size;
  }

  /**
   * Reads hosts-format lines; names outside `zones` are left out. Returns
   * the lines that were not `ADDRESS NAME...`, with their numbers.
   */
  static parse(
    text: string,
    zones: readonly string[],
    autoReverse: boolean,
  ): { map: HostsMap; bad: [number, string][] } {
    const map = new HostsMap();
    const bad: [number, string][] = [];
    text.split("\n").forEach((raw, index) => {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") return;
      const fields = line.split(/\s+/);
      const address = canonicalIP(fields[0]!.replace(/%.*$/, ""));
      if (fields.length < 2 || address === undefined) {
        bad.push([index + 1, raw.trim()]);
        return;
      }
      const byName = isIPv4(address) ? map.name4 : map.name6;
      for (const field of fields.slice(1)) {
        const name = fqdn(field.toLowerCase());
        if (matchZone(zones, name) === undefined) continue;
        push(byName, name, address);
        if (autoReverse) push(map.addr, address, name);
      }
    });
    return { map, bad };
  }
}

function push(map: Map<string, string[]>, key: string, value: string) {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

const entries = gauge(
  "coredns_hosts_entries",
  "The combined number of entries in hosts and Corefile.",
  ["hosts_file"],
);
const reloadTimestamp = gauge(
  "coredns_hosts_reload_timestamp_seconds",
  "The timestamp of the last reload of hosts file.",
);

/** The hosts handler (CoreDNS's `Hosts.ServeDNS`). */
export class Hosts implements Handler {
  readonly name = "hosts";
  next: Handler | undefined;
  file = new HostsMap();
  readonly inline: HostsMap;
  #mtime = -1;
  #size = -1;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly config: HostsConfig) {
    // Setup refused bad inline entries; a name outside the zones is no error.
    this.inline = HostsMap.parse(
      config.inline.join("\n"),
      config.zones,
      config.autoReverse,
    ).map;
  }

  /** Reads the file again when its modification time or size changed. */
  readFile(): void {
    let info: Deno.FileInfo;
    let text: string;
    try {
      info = Deno.statSync(this.config.path);
      const mtime = info.mtime?.getTime() ?? 0;
      if (mtime === this.#mtime && info.size === this.#size) return;
      text = Deno.readTextFileSync(this.config.path);
      this.#mtime = mtime;
      this.#size = info.size;
    } catch (error) {
      if (this.#mtime !== -2) {
        logger.warning(
          `Cannot read hosts file ${this.config.path}: ${
            (error as Error).message
          }`,
        );
      }
      this.#mtime = -2; // warn once until it is readable again
      return;
    }
    const { map, bad } = HostsMap.parse(
      text,
      this.config.zones,
      this.config.autoReverse,
    );
    for (const [line, content] of bad) {
      logger.warning(
        `${this.config.path}:${line}: not a hosts entry, skipped: '${content}'`,
      );
    }
    this.file = map;
    entries.set(
      { hosts_file: this.config.path },
      map.size + this.inline.size,
    );
    reloadTimestamp.set((info.mtime?.getTime() ?? 0) / 1000);
  }

  start(): void {
    this.readFile();
    if (this.config.reloadMs > 0) {
      this.#timer = setInterval(() => this.readFile(), this.config.reloadMs);
      Deno.unrefTimer(this.#timer);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #lookup(family: "name4" | "name6", name: string): string[] {
    return [
      ...(this.file[family].get(name) ?? []),
      ...(this.inline[family].get(name) ?? []),
    ];
  }

  #fallthrough(name: string): boolean {
    const zones = this.config.fallthrough;
    if (zones === undefined) return false;
    return zones.length === 0 || matchZone(zones, name) !== undefined;
  }

  async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
    const name = qname(r);
    const q = r.msg.question[0]!;
    const inZone = matchZone(this.config.zones, name) !== undefined;
    if (!inZone && q.type !== "PTR") {
      return nextOrFailure(this.name, this.next, w, r);
    }
    const ttl = this.config.ttl;
    let answers: Rr[] = [];
    switch (q.type) {
      case "PTR": {
        const address = addressFromReverse(name);
        const names = address === undefined ? [] : [
          ...(this.file.addr.get(address) ?? []),
          ...(this.inline.addr.get(address) ?? []),
        ];
        if (names.length === 0) {
          return nextOrFailure(this.name, this.next, w, r);
        }
        answers = names.map((data) => ({
          name: q.name,
          type: "PTR",
          class: "IN",
          ttl,
          data,
        }));
        break;
      }
      case "A":
        answers = this.#lookup("name4", name).map((data) => ({
          name: q.name,
          type: "A",
          class: "IN",
          ttl,
          data,
        }));
        break;
      case "AAAA":
        answers = this.#lookup("name6", name).map((data) => ({
          name: q.name,
          type: "AAAA",
          class: "IN",
          ttl,
          data,
        }));
        break;
    }
    if (
      answers.length === 0 && this.#lookup("name4", name).length === 0 &&
      this.#lookup("name6", name).length === 0
    ) {
      if (this.#fallthrough(name)) {
        return nextOrFailure(this.name, this.next, w, r);
      }
      // No SOA to say NXDOMAIN with: CoreDNS answers SERVFAIL.
      return [RCODE.SERVFAIL];
    }
    const reply = replyTo(r.msg);
    reply.authoritative = true;
    reply.answer = answers;
    await w.writeMsg(reply);
    return [RCODE.NOERROR];
  }
}

function setup(c: Controller): void {
  const config = parseHosts(c.dispenser, c.keys);
  const hosts = new Hosts(config);
  c.use((next) => {
    hosts.next = next;
    return hosts;
  });
  c.onStartup(() => hosts.start());
  c.onShutdown(() => hosts.stop());
}

export const hosts: Plugin = { name: "hosts", setup };
