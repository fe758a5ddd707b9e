/**
 * What the bench needs from outside the repo, installed when missing:
 * Debian's `wrk`, `dnsperf`, `unbound`, `golang-go` and
 * `golang-github-miekg-dns-dev` (apt-get, as root), and `@datadog/pprof` from npm into `.cache/bench/`.
 * Anything that cannot be had is reported, and the metrics that need it are
 * marked as skipped instead of failing the run.
 */

import { has, run } from "./harness.ts";

export const REPO = new URL("../", import.meta.url).pathname;
export const CACHE = `${REPO}.cache/bench`;
const NODE_DIR = `${CACHE}/node`;
const DATADOG_PPROF = "@datadog/pprof@5.20.0";
const MIEKG_DIR = "/usr/share/gocode/src/github.com/miekg/dns";
const GOPATH = "/usr/share/gocode";

export interface Tools {
  /** HTTP load generator for the CPU-per-request metrics. */
  loader: "wrk" | "deno";
  dnsperf: boolean;
  /** The `unbound` binary (Debian puts it in /usr/sbin, which PATH may lack). */
  unbound?: string;
  /** The Go whoami server binary on miekg/dns, when it could be built. */
  goWhoami?: string;
  /** Node 20's version, when `node` is a Node 20. */
  nodeVersion?: string;
  /** Directory whose node_modules holds @datadog/pprof. */
  datadogDir?: string;
  /** Why something is missing, by what it is for. */
  missing: Map<string, string>;
}

/** Needs a suite can declare. */
export type Need = "http-load" | "dnsperf" | "unbound" | "go" | "node";

function isRoot(): boolean {
  // Deno asks for --allow-all to read /proc/self/status; `id` needs --allow-run.
  try {
    const out = new Deno.Command("id", { args: ["-u"], stderr: "null" })
      .outputSync();
    return new TextDecoder().decode(out.stdout).trim() === "0";
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

export async function prepareTools(options: {
  install: boolean;
  need: Set<Need>;
  loader?: string;
  log(text: string): void;
}): Promise<Tools> {
  const { need, log } = options;
  const missing = new Map<string, string>();
  const wantWrk = need.has("http-load") && options.loader !== "deno";
  const apt: string[] = [];
  if (wantWrk && !has("wrk")) apt.push("wrk");
  if (need.has("dnsperf") && !has("dnsperf")) apt.push("dnsperf");
  if (need.has("unbound") && !unboundPath()) apt.push("unbound");
  if (need.has("go")) {
    if (!has("go")) apt.push("golang-go");
    if (!exists(MIEKG_DIR)) apt.push("golang-github-miekg-dns-dev");
  }
  if (apt.length > 0) await aptInstall(apt, options.install, log);

  const tools: Tools = {
    loader: "deno",
    dnsperf: need.has("dnsperf") && has("dnsperf"),
    missing,
  };
  if (wantWrk) {
    if (has("wrk")) tools.loader = "wrk";
    else {
      if (options.loader === "wrk") {
        throw new Error("--loader wrk asked for, but wrk is not installed");
      }
      missing.set(
        "wrk",
        "wrk not installed (apt-get install wrk): HTTP load from the in-repo Deno client",
      );
    }
  }
  if (need.has("dnsperf") && !tools.dnsperf) {
    missing.set("dnsperf", "dnsperf not installed (apt-get install dnsperf)");
  }
  if (need.has("unbound")) {
    const path = unboundPath();
    if (path) tools.unbound = path;
    else {missing.set(
        "unbound",
        "unbound not installed (apt-get install unbound)",
      );}
  }
  if (need.has("go")) {
    if (!has("go") || !exists(MIEKG_DIR)) {
      missing.set(
        "go",
        "go or miekg/dns not installed (apt-get install golang-go golang-github-miekg-dns-dev)",
      );
    } else {
      try {
        tools.goWhoami = await buildGoWhoami(log);
      } catch (error) {
        missing.set("go", `building the Go whoami server failed: ${error}`);
      }
    }
  }
  if (need.has("node")) {
    await prepareNode(tools, options.install, log);
  }
  for (const why of missing.values()) log(`note: ${why}`);
  return tools;
}

function unboundPath(): string | undefined {
  return ["unbound", "/usr/sbin/unbound"].find((path) => {
    try {
      new Deno.Command(path, { args: ["-h"], stdout: "null", stderr: "null" })
        .outputSync();
      return true;
    } catch {
      return false;
    }
  });
}

async function aptInstall(
  packages: string[],
  install: boolean,
  log: (text: string) => void,
): Promise<void> {
  const hint = `apt-get update && apt-get install -y ${packages.join(" ")}`;
  if (!install) {
    log(`missing ${packages.join(", ")} (--no-install): ${hint}`);
    return;
  }
  if (!isRoot() || !has("apt-get")) {
    log(`missing ${packages.join(", ")}; as root, run: ${hint}`);
    return;
  }
  log(`installing ${packages.join(" ")} from Debian (apt-get)…`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  try {
    await run("apt-get", ["update", "-qq"], { timeoutMs: 180_000, env });
    await run("apt-get", ["install", "-y", "-qq", ...packages], {
      timeoutMs: 300_000,
      env,
    });
  } catch (error) {
    log(
      `could not install ${packages.join(" ")} (${
        (error as Error).message.split("\n").slice(-2).join(" ")
      }); the metrics that need them are skipped`,
    );
  }
}

async function buildGoWhoami(log: (text: string) => void): Promise<string> {
  const out = `${CACHE}/whoami-go`;
  const source = `${REPO}bench/fixtures/whoami.go`;
  const built = exists(out) &&
    (await Deno.stat(out)).mtime! >= (await Deno.stat(source)).mtime!;
  if (built) return out;
  log("building the Go whoami server (miekg/dns from Debian)…");
  await Deno.mkdir(CACHE, { recursive: true });
  await run("go", ["build", "-o", out, source], {
    timeoutMs: 180_000,
    env: {
      GOPATH,
      GO111MODULE: "off",
      GOFLAGS: "",
      GOCACHE: `${CACHE}/go-build`,
    },
  });
  return out;
}

async function prepareNode(
  tools: Tools,
  install: boolean,
  log: (text: string) => void,
): Promise<void> {
  let version: string;
  try {
    version = (await run("node", ["--version"], { timeoutMs: 10_000 })).trim();
  } catch {
    tools.missing.set(
      "node",
      "node not installed: the Node comparisons are skipped",
    );
    return;
  }
  if (!version.startsWith("v20.")) {
    tools.missing.set(
      "node",
      `node is ${version}, not Node 20: the Node comparisons are skipped`,
    );
    return;
  }
  tools.nodeVersion = version;
  const marker = `${NODE_DIR}/node_modules/@datadog/pprof/package.json`;
  if (!exists(marker)) {
    if (!install) {
      tools.missing.set(
        "node",
        `${DATADOG_PPROF} not installed in ${NODE_DIR} (--no-install)`,
      );
      return;
    }
    log(`installing ${DATADOG_PPROF} from npm into ${NODE_DIR}…`);
    await Deno.mkdir(NODE_DIR, { recursive: true });
    if (!exists(`${NODE_DIR}/package.json`)) {
      await Deno.writeTextFile(
        `${NODE_DIR}/package.json`,
        '{"private":true}\n',
      );
    }
    try {
      await run("npm", [
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        DATADOG_PPROF,
      ], { cwd: NODE_DIR, timeoutMs: 180_000 });
    } catch (error) {
      tools.missing.set(
        "node",
        `npm install ${DATADOG_PPROF} failed: ${
          (error as Error).message.split("\n").slice(-2).join(" ")
        }`,
      );
      return;
    }
  }
  tools.datadogDir = NODE_DIR;
}
