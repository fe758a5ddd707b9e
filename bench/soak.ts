/**
 * `deno task bench --soak [--minutes M]`: the reliability soak. The bench's
 * HTTP app runs in a coredeno process with `pprof { block }` under load from
 * another process, while a scraper alternates heap, allocs, block and 2 s CPU
 * profiles for M minutes (default 10). Reports RSS and open files after a
 * one-minute warm-up and at the end; RSS must grow by less than 10%, open
 * files not at all. Exits 1 when either is broken.
 */

const REPO = new URL("../", import.meta.url);
const CONFIG = new URL("deno.json", REPO).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function shell(command: string): Promise<string> {
  const output = await new Deno.Command("sh", { args: ["-c", command] })
    .output();
  return new TextDecoder().decode(output.stdout);
}

/** RSS (MiB) and open descriptors of `pid`, through the shell: Deno reads /proc only with -A. */
async function usage(pid: number) {
  const status = await shell(`cat /proc/${pid}/status`);
  const rssMiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
  const fds = Number((await shell(`ls /proc/${pid}/fd | wc -l`)).trim());
  return { rssMiB, fds };
}

export async function soak(
  minutes: number,
  log: (text: string) => void,
): Promise<boolean> {
  const appPort = freePort();
  const pprofPort = freePort();
  const app = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-sys",
      new URL("bench/fixtures/app.ts", REPO).pathname,
      "--app-port",
      String(appPort),
      "--pprof-port",
      String(pprofPort),
      "--pprof-body",
      "block",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = app.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the soak app exited before it was ready");
    seen += value;
  }
  reader.releaseLock();
  app.stdout.cancel().catch(() => {});

  const end = Date.now() + minutes * 60_000;
  const load = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("bench/fixtures/load.ts", REPO).pathname,
      `http://127.0.0.1:${appPort}/`,
      String(minutes * 60),
      "4",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();

  const base = `http://127.0.0.1:${pprofPort}/debug/pprof`;
  const paths = ["heap", "allocs", "block", "profile?seconds=2"];
  let scrapes = 0;
  let failures = 0;
  let warm: { rssMiB: number; fds: number } | undefined;
  const warmAt = Date.now() + Math.min(60_000, minutes * 60_000 / 5);
  let last = await usage(app.pid);
  while (Date.now() < end) {
    for (const path of paths) {
      const response = await fetch(`${base}/${path}`).catch(() => undefined);
      if (response?.status === 200) scrapes++;
      else failures++;
      await response?.arrayBuffer();
    }
    last = await usage(app.pid);
    if (warm === undefined && Date.now() >= warmAt) {
      warm = last;
      log(
        `soak: warm at RSS ${
          warm.rssMiB.toFixed(1)
        } MiB, ${warm.fds} open files`,
      );
    }
  }
  const loadResult = JSON.parse(
    new TextDecoder().decode((await load.output()).stdout).trim() || "{}",
  );
  app.kill("SIGTERM");
  await app.status;
  warm ??= last;
  const growth = last.rssMiB / warm.rssMiB - 1;
  const ok = growth < 0.1 && last.fds <= warm.fds && failures === 0;
  console.log(JSON.stringify({
    name: "soak",
    minutes,
    scrapes,
    failures,
    requests: loadResult.ops,
    requestErrors: loadResult.errors,
    rssWarmMiB: Number(warm.rssMiB.toFixed(1)),
    rssEndMiB: Number(last.rssMiB.toFixed(1)),
    rssGrowth: Number(growth.toFixed(4)),
    fdsWarm: warm.fds,
    fdsEnd: last.fds,
    ok,
  }));
  return ok;
}
