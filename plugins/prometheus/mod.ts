/**
 * *prometheus*: `prometheus [ADDRESS]` (default `localhost:9153`), CoreDNS's
 * *metrics* plugin. `/metrics` serves the process's registry in Prometheus'
 * text format: the DNS request and response series this plugin records for
 * its block's zones, the series other plugins define (`coredns_cache_*`,
 * `coredns_forward_*`, `coredns_proxy_*`), `coredns_build_info`,
 * `coredns_plugin_enabled` and the `process_*` metrics. Blocks naming one
 * address share one listener, kept through reloads.
 */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import {
  clientWrote,
  type DnsRequest,
  dnssecOk,
  family,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qname,
  type ResponseWriter,
  writtenBy,
} from "../../lib/dns/handler.ts";
import {
  counter,
  enableMetrics,
  gauge,
  histogram,
  loadedClient,
  TIME_BUCKETS,
} from "../../lib/dns/metrics.ts";
import { matchZone, normalizeZones } from "../../lib/dns/names.ts";
import {
  type Message,
  messageLength,
  rcodeName,
  typeName,
} from "../../lib/dns/wire.ts";
import { listenHostPort } from "../../lib/net/host_port.ts";
import {
  acquireHttpListener,
  type HttpListener,
  type ListenAddress,
  reportPort,
} from "../../lib/net/http_listeners.ts";
import { OnceError } from "../../lib/server/errors.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";
import { GIT_COMMIT, VERSION } from "../../lib/version.ts";

export const DEFAULT_METRICS_ADDRESS = "localhost:9153";

export interface PrometheusConfig extends ListenAddress {
  zones: string[];
  /** Where the directive is, to find its block. */
  file: string;
  line: number;
}

/** Parses the block's `prometheus` line. */
export function parsePrometheus(
  d: Dispenser,
  keys: readonly string[],
): PrometheusConfig {
  let address = DEFAULT_METRICS_ADDRESS;
  let seen = false;
  let file = d.file();
  let line = 0;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    file = d.file();
    line = d.line();
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    if (args.length === 1) address = args[0]!;
    while (d.nextBlock()) throw d.err(`unknown option: ${d.val()}`);
  }
  const { host, port } = listenHostPort(address, (m) => d.err(m));
  return {
    address,
    host,
    port,
    zones: [...new Set(keys.flatMap(normalizeZones))],
    file,
    line,
  };
}

// --- CoreDNS's DNS series (plugin/metrics/vars).

const SIZE_BUCKETS = [
  0,
  100,
  200,
  300,
  400,
  511,
  1023,
  2047,
  4095,
  8291,
  16e3,
  32e3,
  48e3,
  64e3,
];
const requestCount = counter(
  "coredns_dns_requests_total",
  "Counter of DNS requests made per zone, protocol and family.",
  ["server", "zone", "view", "proto", "family", "type"],
);
const requestDuration = histogram(
  "coredns_dns_request_duration_seconds",
  "Histogram of the time (in seconds) each request took per zone.",
  ["server", "zone", "view"],
  TIME_BUCKETS,
);
const requestSize = histogram(
  "coredns_dns_request_size_bytes",
  "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
  ["server", "zone", "view", "proto"],
  SIZE_BUCKETS,
);
const requestDo = counter(
  "coredns_dns_do_requests_total",
  "Counter of DNS requests with DO bit set per zone.",
  ["server", "zone", "view"],
);
const responseSize = histogram(
  "coredns_dns_response_size_bytes",
  "Size of the returned response in bytes.",
  ["server", "zone", "view", "proto"],
  SIZE_BUCKETS,
);
const responseRcode = counter(
  "coredns_dns_responses_total",
  "Counter of response status codes.",
  ["server", "zone", "view", "rcode", "plugin"],
);
const pluginEnabled = gauge(
  "coredns_plugin_enabled",
  "A metric that indicates whether a plugin is enabled on per server and zone basis.",
  ["server", "zone", "view", "name"],
);
const buildInfo = gauge(
  "coredns_build_info",
  "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
  ["version", "revision", "goversion"],
);
// Defined so that it is exported at 0, as CoreDNS's is.
counter(
  "coredns_panics_total",
  "A metrics that counts the number of panics.",
);

/** The query types CoreDNS labels by name; the rest are `other`. */
const MONITORED_TYPES = new Set([
  "AAAA",
  "A",
  "CNAME",
  "DNSKEY",
  "DS",
  "MX",
  "NSEC3",
  "NSEC",
  "NS",
  "PTR",
  "RRSIG",
  "SOA",
  "SRV",
  "TXT",
  "HTTPS",
  "SVCB",
  "IXFR",
  "AXFR",
  "ANY",
]);

/** The metrics handler (CoreDNS's `Metrics.ServeDNS`). */
export function metricsHandler(
  zones: readonly string[],
  next: Handler | undefined,
): Handler {
  return {
    name: "prometheus",
    async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
      const start = performance.now();
      let written: Message | undefined;
      let plugin = "";
      const recorder: ResponseWriter = {
        writeMsg(m) {
          written = m;
          plugin = writtenBy.get(m) ?? "";
          return w.writeMsg(m);
        },
      };
      const result = await nextOrFailure("prometheus", next, recorder, r);
      const zone = matchZone(zones, qname(r)) ?? ".";
      const server = r.server ?? "";
      const rcode = clientWrote(result[0]) && written !== undefined
        ? written.rcode
        : result[0];
      const type = typeName(r.msg.question[0]?.type ?? "");
      if (dnssecOk(r)) requestDo.inc({ server, zone, view: "" });
      requestCount.inc({
        server,
        zone,
        view: "",
        proto: r.proto,
        family: String(family(r)),
        type: MONITORED_TYPES.has(type) ? type : "other",
      });
      requestDuration.observe(
        { server, zone, view: "" },
        (performance.now() - start) / 1000,
      );
      responseSize.observe(
        { server, zone, view: "", proto: r.proto },
        written === undefined ? 0 : messageLength(written),
      );
      requestSize.observe({ server, zone, view: "", proto: r.proto }, r.length);
      responseRcode.inc({
        server,
        zone,
        view: "",
        rcode: rcodeName(rcode),
        plugin,
      });
      return result;
    },
  };
}

// --- The process metrics: prom-client's `process_*` collectors only (its
// `nodejs_*` ones measure Node's event loop, which Deno does not have).

let processRegistry: ReturnType<typeof processMetrics> | undefined;

function processMetrics() {
  const client = loadedClient()!;
  const processes = new client.Registry();
  client.collectDefaultMetrics({ register: processes });
  return processes;
}

/** The whole exposition: the DNS registry, then the process metrics. */
export async function exposition(): Promise<string> {
  const registry = await enableMetrics();
  processRegistry ??= processMetrics();
  const dns = await registry.metrics();
  const process = (await processRegistry.metrics())
    .split(/\n(?=# HELP )/)
    .filter((block) => block.startsWith("# HELP process_"))
    .join("\n");
  return `${dns.trimEnd()}\n\n${process.trimEnd()}\n`;
}

function notFound(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
  });
}

/** `/metrics` in the text format; anything else is Go's 404. */
export async function metricsHttpHandler(request: Request): Promise<Response> {
  if (new URL(request.url).pathname !== "/metrics") return notFound();
  const body = await exposition();
  return new Response(request.method === "HEAD" ? null : body, {
    headers: { "content-type": (await enableMetrics()).contentType },
  });
}

/** `dns://example.org.:53` → [`dns://:53`, `example.org.`]. */
function serverAndZone(key: string): [string, string] {
  const scheme = key.indexOf("://");
  const transport = scheme >= 0 ? key.slice(0, scheme) : "dns";
  const rest = scheme >= 0 ? key.slice(scheme + 3) : key;
  const colon = rest.lastIndexOf(":");
  const zone = colon >= 0 ? rest.slice(0, colon) : rest;
  const port = colon >= 0 ? rest.slice(colon + 1) : "53";
  return [`${transport}://:${port}`, zone];
}

function setup(c: Controller): void {
  const config = parsePrometheus(c.dispenser, c.keys);
  const { file, line } = config;
  // prom-client loads now; what is counted meanwhile waits for it.
  const metrics = enableMetrics();
  metrics.catch(() => {}); // reported by the startup that awaits it
  c.onStartup(async () => {
    await metrics;
  });
  buildInfo.set(
    {
      version: VERSION,
      revision: GIT_COMMIT,
      goversion: `deno${Deno.version.deno}`,
    },
    1,
  );
  c.use((next) => metricsHandler(config.zones, next));
  // The block's plugins, as CoreDNS's coredns_plugin_enabled lists them.
  const block = c.serverBlocks.find((b) =>
    b.tokens.get("prometheus")?.some((t) => t.line === line && t.file === file)
  );
  const names = block === undefined ? ["prometheus"] : [...block.tokens.keys()];
  c.onStartup(() => {
    for (const key of c.keys) {
      const [server, zone] = serverAndZone(key);
      for (const name of names) {
        pluginEnabled.set({ server, zone, view: "", name }, 1);
      }
    }
  });
  const listeners = c.shared("prometheus", () => new Set<string>());
  const id = `${config.host.toLowerCase()}:${config.port}`;
  if (listeners.has(id)) return;
  listeners.add(id);
  let listener: HttpListener | undefined;
  c.onStartup(() => {
    listener = acquireHttpListener(config, metricsHttpHandler);
    reportPort("prometheus", config, listener);
  });
  c.onShutdown(async () => {
    await listener?.release();
    listener = undefined;
  });
}

export const prometheus: Plugin = { name: "prometheus", setup };
