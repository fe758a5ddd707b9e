/** One end of a conversation (a module of its own: handler.ts and plain.ts both use it). */
export interface Endpoint {
  /** `127.0.0.1`, `::1` (an IPv4 client of a dual-stack socket is unmapped). */
  ip: string;
  port: number;
}
