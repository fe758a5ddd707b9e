/**
 * `deno task compile`: builds the single executable `coredeno` with the
 * permissions of `deno task start` baked in (never -A), the npm packages and
 * the UI assets (page.html, flame.js, flame.css, imported as text) inside.
 *
 * It compiles the bundle (`deno task bundle`: `dist/coredeno.js`), not
 * `main.ts`, with the bundle's source map included: an executable has no
 * Deno emit cache, so the map beside the code V8 runs is what turns its
 * profiles' frames into TypeScript files and lines (lib/profile/sourcemap.ts).
 *
 *   deno task compile                  this machine's platform → dist/coredeno
 *   deno task compile --target T       one of TARGETS → dist/coredeno-T
 *   deno task compile --all            every target
 *   deno task compile --dry-run ...    print the commands, run nothing
 */

import { SERVER_PERMISSIONS } from "../lib/permissions.ts";
import { parseArgs } from "node:util";
import { bundle, bundleArgs, OUTPUT as BUNDLE } from "./bundle.ts";
import { message } from "../lib/errors.ts";

/** The permissions coredeno runs with, baked into the executable: `deno task start`'s. */
export const PERMISSIONS = SERVER_PERMISSIONS;

export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** The `deno compile` arguments for one target (undefined: this machine's). */
export function compileArgs(target?: string): string[] {
  const suffix = target === undefined ? "" : `-${target}`;
  const exe = target?.includes("windows") ? ".exe" : "";
  return [
    "compile",
    ...PERMISSIONS,
    "--config",
    "deno.json", // its "unstable" list and import map go into the binary
    ...(target === undefined ? [] : ["--target", target]),
    "--include",
    `${BUNDLE}.map`,
    "--output",
    `dist/coredeno${suffix}${exe}`,
    BUNDLE,
  ];
}

/** Deno fetches `denort` (the runtime an executable is made of) on first use per target. */
function isDownloadFailure(stderr: string): boolean {
  return /denort|dns error|error sending request|failed to download|failed downloading/i
    .test(stderr);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string", multiple: true },
      all: { type: "boolean" },
      "dry-run": { type: "boolean" },
    },
  });
  for (const target of values.target ?? []) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      console.error(
        `unknown target ${target} (want one of ${TARGETS.join(", ")})`,
      );
      return 2;
    }
  }
  const targets: (string | undefined)[] = values.all
    ? [...TARGETS]
    : values.target ?? [undefined];
  if (values["dry-run"]) {
    console.log(["deno", ...bundleArgs()].join(" "));
  } else {
    try {
      await bundle();
    } catch (error) {
      console.error(message(error));
      return 1;
    }
  }
  for (const target of targets) {
    const args = compileArgs(target);
    if (values["dry-run"]) {
      console.log(["deno", ...args].join(" "));
      continue;
    }
    const output = await new Deno.Command(Deno.execPath(), {
      args,
      stdout: "inherit",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    if (output.code === 0) continue;
    if (isDownloadFailure(stderr)) {
      console.error(
        `deno compile could not download denort, Deno's runtime for executables${
          target ? ` (${target})` : ""
        }: ` +
          "this machine cannot reach Deno's download server; build where it can, or point DENORT_BIN at a local denort",
      );
    } else {
      console.error(stderr.trimEnd());
    }
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
