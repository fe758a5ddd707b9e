/**
 * Deno's bind errors in the words of Go's `net.Listen`, which CoreDNS
 * prints: `listen tcp :53: bind: address already in use`. Deno's own error
 * classes, or Node's codes (node:dgram), name the cause.
 */

import { message } from "../errors.ts";

export function listenError(
  network: "tcp" | "udp",
  address: string,
  error: unknown,
): string {
  const where = `listen ${network} ${address}`;
  const code = (error as { code?: string } | undefined)?.code;
  if (error instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    return `${where}: bind: address already in use`;
  }
  if (
    error instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL"
  ) {
    return `${where}: bind: cannot assign requested address`;
  }
  if (error instanceof Deno.errors.PermissionDenied || code === "EACCES") {
    return `${where}: bind: permission denied`;
  }
  return `${where}: ${message(error)}`;
}
