/**
 * CoreDNS-style log lines: `[LEVEL] plugin/NAME: message`, no timestamps,
 * normal output on stdout (CoreDNS logs with flags 0 to stdout).
 */

export type Level = "INFO" | "WARNING" | "ERROR" | "DEBUG";

/** Where log lines go; tests and the CLI may swap it. */
export let logSink: (line: string) => void = (line) => console.log(line);

/** Replaces the log sink and returns the previous one. */
export function setLogSink(
  sink: (line: string) => void,
): (line: string) => void {
  const previous = logSink;
  logSink = sink;
  return previous;
}

/** Writes one `[LEVEL] message` line. */
export function log(level: Level, message: string): void {
  logSink(`[${level}] ${message}`);
}

/** A logger whose lines carry `plugin/NAME: `, as CoreDNS's `clog.NewWithPlugin`. */
export function pluginLogger(
  name: string,
): Record<Lowercase<Level>, (message: string) => void> {
  const prefix = `plugin/${name}: `;
  return {
    info: (message) => log("INFO", prefix + message),
    warning: (message) => log("WARNING", prefix + message),
    error: (message) => log("ERROR", prefix + message),
    debug: (message) => log("DEBUG", prefix + message),
  };
}
