/**
 * *log*: `log [NAMES...] [FORMAT] { class CLASSES... }`, one `[INFO] ` line
 * per query in CoreDNS's formats (default, `{common}`, `{combined}`).
 */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import {
  bufsize,
  type DnsRequest,
  dnssecOk,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qclass,
  qname,
  qtype,
  Recorder,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import { type Message, RCODE, rcodeName } from "../../lib/dns/wire.ts";
import { log as writeLog } from "../../lib/log.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

export const DEFAULT_LOG_FORMAT =
  '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}';
export const COMMON_LOG_FORMAT = DEFAULT_LOG_FORMAT;
export const COMBINED_LOG_FORMAT = `${COMMON_LOG_FORMAT} "{>opcode}"`;

const CLASSES = new Set(["all", "success", "denial", "error"]);

export interface LogRule {
  nameScope: string;
  format: string;
  classes: Set<string>;
}

/** Parses every `log` line of a block into rules, in order. */
export function parseLog(d: Dispenser): LogRule[] {
  const rules: LogRule[] = [];
  while (d.next()) {
    const args = d.remainingArgs();
    let format = DEFAULT_LOG_FORMAT;
    // One argument is always a name; with more, the last is a format if it has a '{'.
    if (args.length > 1 && args.at(-1)!.includes("{")) {
      format = args.pop()!.replaceAll("{common}", COMMON_LOG_FORMAT).replaceAll(
        "{combined}",
        COMBINED_LOG_FORMAT,
      );
    }
    const names = args.length === 0 ? ["."] : args;
    const classes = new Set<string>();
    while (d.nextBlock()) {
      if (d.val() !== "class") throw d.err(`unknown property '${d.val()}'`);
      const classArgs = d.remainingArgs();
      if (classArgs.length === 0) throw d.argErr();
      for (const name of classArgs) {
        if (!CLASSES.has(name)) throw new Error(`invalid Class: ${name}`);
        classes.add(name);
      }
    }
    if (classes.size === 0) classes.add("all");
    for (const name of names) {
      rules.push({ nameScope: fqdn(name), format, classes });
    }
  }
  return rules;
}

function fqdn(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}

/** miekg/dns's `IsSubDomain`, case-insensitive. */
export function isSubDomain(parent: string, child: string): boolean {
  const p = parent.toLowerCase();
  const c = child.toLowerCase();
  return p === "." || c === p || c.endsWith(`.${p}`);
}

/** What the response was (CoreDNS's `response.Typify` then `Classify`). */
export function classify(m: Message | undefined): string {
  if (m === undefined) return "error";
  if (m.opcode === 5 || m.opcode === 4) return "error"; // update, notify: meta
  const type = m.question[0]?.type;
  if (type === "AXFR" || type === "IXFR") return "error";
  if (m.answer.length > 0 && m.rcode === RCODE.NOERROR) return "success";
  const soa = m.ns.some((rr) => rr.type === "SOA");
  const ns = m.ns.some((rr) => rr.type === "NS");
  if (soa && m.rcode === RCODE.NOERROR) return "denial"; // NODATA
  if (soa && m.rcode === RCODE.NXDOMAIN) return "denial";
  if (ns && m.rcode === RCODE.NOERROR) return "success"; // delegation
  if (m.rcode === RCODE.NOERROR) return "success";
  return "error";
}

const FLAG_NAMES = [
  ["response", "qr"],
  ["authoritative", "aa"],
  ["truncated", "tc"],
  ["recursionDesired", "rd"],
  ["recursionAvailable", "ra"],
  ["zero", "z"],
  ["authenticatedData", "ad"],
  ["checkingDisabled", "cd"],
] as const;

/** Go's `strconv.FormatFloat(secs, 'f', -1, 64)` for the nanosecond-ish values we have. */
function seconds(ms: number): string {
  const text = (ms / 1000).toFixed(9).replace(/0+$/, "").replace(/\.$/, "");
  return text === "" ? "0" : text;
}

/** `[::1]` for IPv6, as CoreDNS writes `{remote}`. */
function rfc3986(ip: string): string {
  return ip.includes(":") ? `[${ip}]` : ip;
}

const EMPTY = "-";

/** The value of one placeholder, or undefined when CoreDNS does not know it (kept literally). */
function placeholder(
  label: string,
  r: DnsRequest,
  rec: Recorder,
  end: number,
): string | undefined {
  const m = rec.msg;
  switch (label) {
    case "{type}":
      return qtype(r);
    case "{name}":
      return qname(r);
    case "{class}":
      return qclass(r);
    case "{proto}":
      return r.proto;
    case "{size}":
      return String(r.length);
    case "{remote}":
      return rfc3986(r.remote.ip);
    case "{port}":
      return String(r.remote.port);
    case "{local}":
      return rfc3986(r.local.ip);
    case "{>id}":
      return String(r.msg.id);
    case "{>opcode}":
      return String(r.msg.opcode);
    case "{>do}":
      return String(dnssecOk(r));
    case "{>bufsize}":
      return String(bufsize(r));
    case "{rcode}":
      return m === undefined ? EMPTY : rcodeName(rec.rcode);
    case "{rsize}":
      return m === undefined ? EMPTY : String(rec.length);
    case "{duration}":
      return m === undefined ? EMPTY : `${seconds(end - rec.start)}s`;
    case "{>rflags}": {
      if (m === undefined) return EMPTY;
      const set = FLAG_NAMES.filter(([field]) => m[field]).map(([, n]) => n);
      return set.length === 0 ? EMPTY : set.join(",");
    }
  }
  if (label.startsWith("{/")) return EMPTY; // metadata: none is set
  return undefined;
}

/** Renders a log format for one query. */
export function renderFormat(
  format: string,
  r: DnsRequest,
  rec: Recorder,
  end = performance.now(),
): string {
  return format.replace(
    /\{[^{}]*\}/g,
    (label) => placeholder(label, r, rec, end) ?? label,
  );
}

/** The log handler: the first rule whose name matches logs the query. */
export function logHandler(
  rules: readonly LogRule[],
  next: Handler | undefined,
): Handler {
  return {
    name: "log",
    async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
      const name = qname(r);
      const rule = rules.find((rule) => isSubDomain(rule.nameScope, name));
      if (rule === undefined) return nextOrFailure("log", next, w, r);
      const rec = new Recorder(w);
      const result = await nextOrFailure("log", next, rec, r);
      if (rule.classes.has("all") || rule.classes.has(classify(rec.msg))) {
        writeLog("INFO", renderFormat(rule.format, r, rec));
      }
      return result;
    },
  };
}

function setup(c: Controller): void {
  const rules = parseLog(c.dispenser);
  c.use((next) => logHandler(rules, next));
}

export const log: Plugin = { name: "log", setup };
