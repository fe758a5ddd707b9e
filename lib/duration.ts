/**
 * Go's `time.ParseDuration`, with its error texts: Corefiles written for
 * CoreDNS use its syntax (`30s`, `1m30s`, `1.5h`), and its messages appear in
 * plugin errors (`time: invalid duration "soon"`).
 */

const UNIT_NANOS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3, // U+00B5 micro sign
  "μs": 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses a Go duration; returns nanoseconds. Throws Go's message. */
export function parseDuration(text: string): number {
  const quoted = JSON.stringify(text);
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw new SyntaxError(`time: invalid duration ${quoted}`);
  let total = 0;
  while (rest !== "") {
    const number = /^(\d*)(\.\d*)?/.exec(rest)!;
    const [whole, integer = "", fraction = ""] = number;
    if (integer === "" && fraction.length <= 1) {
      throw new SyntaxError(`time: invalid duration ${quoted}`);
    }
    rest = rest.slice(whole.length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    if (unit === "") {
      throw new SyntaxError(`time: missing unit in duration ${quoted}`);
    }
    const scale = UNIT_NANOS[unit];
    if (scale === undefined) {
      throw new SyntaxError(
        `time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`,
      );
    }
    rest = rest.slice(unit.length);
    total += Number(`${integer || "0"}${fraction}`) * scale;
  }
  if (total > 2 ** 63 - 1) {
    throw new SyntaxError(`time: invalid duration ${quoted}`);
  }
  return sign * Math.round(total);
}

/** Formats nanoseconds as Go's `Duration.String` does for whole units (`2s`, `1m30s`). */
export function formatDuration(nanos: number): string {
  if (nanos === 0) return "0s";
  if (Math.abs(nanos) < 1e9) {
    for (
      const [unit, scale] of [["ms", 1e6], ["µs", 1e3], ["ns", 1]] as const
    ) {
      if (Math.abs(nanos) >= scale) return `${nanos / scale}${unit}`;
    }
  }
  const sign = nanos < 0 ? "-" : "";
  let seconds = Math.abs(nanos) / 1e9;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  const s = `${Number(seconds.toFixed(9))}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${s}`;
  if (minutes > 0) return `${sign}${minutes}m${s}`;
  return `${sign}${s}`;
}
