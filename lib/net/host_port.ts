/**
 * Go's `net.SplitHostPort`, with its exact error texts: CoreDNS reports them
 * verbatim (`address /foo: missing port in address`), and so do we.
 */

/** A bad `host:port`, worded as Go's `*net.AddrError`. */
export class AddressError extends Error {
  constructor(readonly address: string, readonly reason: string) {
    super(address === "" ? reason : `address ${address}: ${reason}`);
    this.name = "AddressError";
  }
}

const MISSING_PORT = "missing port in address";
const TOO_MANY_COLONS = "too many colons in address";

/** Splits `host:port`, `[v6]:port` or `:port` exactly as Go does. */
export function splitHostPort(
  hostport: string,
): { host: string; port: string } {
  const lastColon = hostport.lastIndexOf(":");
  if (lastColon < 0) throw new AddressError(hostport, MISSING_PORT);
  let host: string;
  let afterOpen = 0;
  let afterClose = 0;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) throw new AddressError(hostport, "missing ']' in address");
    if (close + 1 === hostport.length) {
      throw new AddressError(hostport, MISSING_PORT);
    }
    if (close + 1 !== lastColon) {
      throw new AddressError(
        hostport,
        hostport[close + 1] === ":" ? TOO_MANY_COLONS : MISSING_PORT,
      );
    }
    host = hostport.slice(1, close);
    afterOpen = 1;
    afterClose = close + 1;
  } else {
    host = hostport.slice(0, lastColon);
    if (host.includes(":")) throw new AddressError(hostport, TOO_MANY_COLONS);
  }
  if (hostport.slice(afterOpen).includes("[")) {
    throw new AddressError(hostport, "unexpected '[' in address");
  }
  if (hostport.slice(afterClose).includes("]")) {
    throw new AddressError(hostport, "unexpected ']' in address");
  }
  return { host, port: hostport.slice(lastColon + 1) };
}

/**
 * A TCP port as a number. Empty means 0 (an ephemeral port, as in Go). Go
 * would also look up service names such as `http`; we accept numbers only,
 * and say so at setup rather than at listen time.
 */
export function parsePort(address: string, port: string): number {
  if (port === "") return 0;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw new AddressError(
      address,
      `invalid port "${port}" (want a number from 0 to 65535)`,
    );
  }
  return Number(port);
}

/**
 * A listener's `host:port` (port 0 when empty), or `fail(message)`'s error
 * for a bad one: plugins pass the Corefile's, so the error names its file
 * and line.
 */
export function listenHostPort(
  address: string,
  fail: (message: string) => Error,
): { host: string; port: number } {
  try {
    const { host, port } = splitHostPort(address);
    return { host, port: parsePort(address, port) };
  } catch (error) {
    if (error instanceof AddressError) throw fail(error.message);
    throw error;
  }
}
