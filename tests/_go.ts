/** The real pprof client, `go tool pprof` from Debian's golang-go, run in tests. */

/** Runs `go tool pprof ARGS` with a scratch PPROF_TMPDIR; returns exit code and output. */
export async function goToolPprof(args: string[]) {
  const tmp = await Deno.makeTempDir({ prefix: "pprof-tmp-" });
  try {
    const output = await new Deno.Command("go", {
      args: ["tool", "pprof", ...args],
      env: { PPROF_TMPDIR: tmp, HOME: tmp },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return {
      code: output.code,
      stdout: decode(output.stdout),
      stderr: decode(output.stderr),
    };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
