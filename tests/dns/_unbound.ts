/**
 * A real upstream for the forward and cache tests: Debian's `unbound`,
 * started on 127.0.0.1 and a free port with local data only. `.` is a
 * static local zone, so nothing is ever asked of the Internet (no root
 * hints are fetched, no recursion happens).
 */

import { unboundServerClause } from "../../tools/unbound_conf.ts";
import { freePort, tempFiles } from "../_helpers.ts";
import { queryMessage, udpQuery } from "./_dns.ts";

/** The names every test unbound answers. */
export const UNBOUND_DATA: string[] = [
  "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 30",
  "www.example.test. 300 IN A 192.0.2.1",
  "www.example.test. 300 IN AAAA 2001:db8::1",
  "short.example.test. 5 IN A 192.0.2.5",
  "alias.example.test. 300 IN CNAME www.example.test.",
  'txt.example.test. 300 IN TXT "hello"',
  // 40 addresses: more than 512 bytes, so a UDP reply without EDNS0 is truncated.
  ...Array.from(
    { length: 40 },
    (_, i) => `big.example.test. 300 IN A 198.51.100.${i + 1}`,
  ),
];

export interface Unbound extends AsyncDisposable {
  readonly port: number;
  /** Kills the process (SIGKILL) and waits for it to be gone. */
  kill(): Promise<void>;
  /** Kills it if running and removes its directory. */
  stop(): Promise<void>;
}

/** Debian installs unbound in /usr/sbin, which a user's PATH may lack. */
const UNBOUND_PATHS = ["unbound", "/usr/sbin/unbound"];
let unboundPath = "unbound";

/** Whether `unbound` is installed; CI installs it (.ci/run), so there its absence fails. */
export function unboundAvailable(): boolean {
  for (const path of UNBOUND_PATHS) {
    try {
      new Deno.Command(path, {
        args: ["-h"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      unboundPath = path;
      return true;
    } catch {
      // try the next
    }
  }
  if (Deno.env.get("CI")) {
    throw new Error(
      "unbound is required when CI is set (.ci/run installs it)",
    );
  }
  console.log(
    "SKIPPED: unbound is not installed; `apt-get install -y unbound` to run the forward/cache tests",
  );
  return false;
}

/** Starts unbound on 127.0.0.1 with `data` as local data under the static zone `.`. */
export async function startUnbound(
  {
    data = UNBOUND_DATA,
    zone = "example.test.",
    port = freePort(),
    server = [],
  }: {
    data?: string[];
    zone?: string;
    /** Default: a free one (unbound binds the port its config names, and reports none). */
    port?: number;
    /** More `server:` options, e.g. `tcp-idle-timeout: 200`. */
    server?: string[];
  } = {},
): Promise<Unbound> {
  const conf = [
    ...unboundServerClause(port),
    ...server.map((line) => `  ${line}`),
    '  local-zone: "." static',
    `  local-zone: "${zone}" static`,
    ...data.map((rr) => `  local-data: '${rr}'`),
    "remote-control:",
    "  control-enable: no",
    "",
  ].join("\n");
  const files = tempFiles({ "unbound.conf": conf });
  const child = new Deno.Command(unboundPath, {
    args: ["-d", "-c", `${files.dir}/unbound.conf`],
    cwd: files.dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const pump = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => void (stderr += s) }),
  );
  let alive = true;
  const status = child.status.then((s) => {
    alive = false;
    return s;
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!alive) {
      await pump.catch(() => {});
      files.cleanup();
      throw new Error(`unbound exited early: ${stderr}`);
    }
    try {
      await udpQuery(port, queryMessage("www.example.test.", "A"));
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await status;
        files.cleanup();
        throw new Error(`unbound did not answer on ${port}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const kill = async () => {
    if (alive) child.kill("SIGKILL");
    await status;
    await pump.catch(() => {});
  };
  const stop = async () => {
    await kill();
    files.cleanup();
  };
  // `await using` stops it.
  return { port, kill, stop, [Symbol.asyncDispose]: stop };
}
