/**
 * `deno task bench`: what coredeno's profiler costs, as ratios measured side
 * by side within one run (bench/README.md has the method and targets).
 *
 * Usage: deno task bench [--quick] [--json] [--only P1,P2,...]
 *          [--loader wrk|deno] [--rounds N] [--sets N] [--rate R]
 *          [--seconds S] [--no-install]
 *        deno task bench --soak [--minutes M] [--soak-body TEXT|none]
 *          [--no-scrape]                          (bench/soak.ts)
 *
 * The table goes to stdout; with --json, one JSON object per metric goes to
 * stdout instead and the table to stderr. Progress goes to stderr.
 */

import { parseArgs } from "node:util";
import { prepareTools } from "./setup.ts";
import { jsonLine, type Result, stopAll, table } from "./harness.ts";
import { type Config, SUITES } from "./suites/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    only: { type: "string" },
    loader: { type: "string" },
    rounds: { type: "string" },
    sets: { type: "string" },
    rate: { type: "string" },
    seconds: { type: "string" },
    "no-install": { type: "boolean", default: false },
    soak: { type: "boolean", default: false },
    minutes: { type: "string" },
    "soak-body": { type: "string" },
    "no-scrape": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(
    "usage: deno task bench [--quick] [--json] [--only P1,P2,...] " +
      "[--loader wrk|deno] [--rounds N] [--sets N] [--rate R] [--seconds S] [--no-install]\n" +
      `metrics: ${SUITES.map((s) => s.ids.join(",")).join(" ")}`,
  );
  Deno.exit(0);
}

if (values.soak) {
  const { soak } = await import("./soak.ts");
  const body = values["soak-body"] ?? "block";
  const ok = await soak(
    {
      minutes: Number(values.minutes ?? 10),
      body: body === "none" ? undefined : body,
      scrape: !values["no-scrape"],
    },
    (text) => console.error(text),
  );
  Deno.exit(ok ? 0 : 1);
}

const quick = values.quick;
const only = values.only
  ? new Set(values.only.split(",").map((s) => s.trim().toUpperCase()))
  : undefined;
const wanted = SUITES.filter((s) =>
  !only || s.ids.some((id) => only.has(id.toUpperCase()))
);
if (wanted.length === 0) {
  console.error(`no metric matches --only ${values.only}`);
  Deno.exit(2);
}

const started = performance.now();
const progress = (text: string) =>
  console.error(
    `[bench ${((performance.now() - started) / 1000).toFixed(0)}s] ${text}`,
  );

const tools = await prepareTools({
  install: !values["no-install"],
  need: new Set(wanted.flatMap((s) => s.needs)),
  loader: values.loader,
  log: progress,
});

const config: Config = {
  quick,
  rounds: Number(values.rounds ?? (quick ? 4 : 10)),
  sets: Number(values.sets ?? (quick ? 1 : 4)),
  rate: Number(values.rate ?? 3000),
  // wrk takes whole seconds; the in-repo loader takes fractions.
  seconds: Number(values.seconds ?? (quick ? 1 : 3)),
  tools,
  log: progress,
};

const results: Result[] = [];
const abort = () => {
  stopAll().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", abort);
try {
  for (const suite of wanted) {
    progress(`${suite.ids.join("/")}: ${suite.title}`);
    try {
      results.push(...await suite.run(config));
    } catch (error) {
      progress(`${suite.ids.join("/")} failed: ${(error as Error).stack}`);
      for (const id of suite.ids) {
        results.push({
          id,
          name: suite.title,
          unit: "",
          note: `failed: ${(error as Error).message.split("\n")[0]}`,
        });
      }
    } finally {
      await stopAll();
    }
  }
} finally {
  Deno.removeSignalListener("SIGINT", abort);
}

// Every row of the suites that ran: --only picks suites by their ids, and a
// suite's other rows (P3n, P3/n, DNSc, …) explain its metric.
const keep = results;
const text = table(keep);
const elapsed = `${((performance.now() - started) / 1000).toFixed(0)} s`;
if (values.json) {
  for (const r of keep) console.log(jsonLine(r));
  console.error(`${text}\n(${elapsed}, ${describe(config)})`);
} else {
  console.log(`${text}\n\n(${elapsed}, ${describe(config)})`);
}

function describe(c: Config): string {
  return `${c.rounds} rounds of ${c.seconds} s windows, ${c.sets} sets of fresh processes, paced HTTP load ${c.rate}/s, ` +
    `other HTTP load: ${c.tools.loader}, ` +
    `${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}` +
    (c.tools.nodeVersion ? `, Node ${c.tools.nodeVersion}` : "");
}
