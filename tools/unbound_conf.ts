/**
 * The `server:` clause every unbound of the tests and the bench starts with:
 * 127.0.0.1 and `port` only, one thread, no daemon, no syslog, no chroot or
 * user switch, nothing asked of the Internet unless told (local data or a
 * forward zone follows).
 */
export function unboundServerClause(port: number): string[] {
  return [
    "server:",
    "  interface: 127.0.0.1",
    `  port: ${port}`,
    "  do-ip6: no",
    "  do-daemonize: no",
    "  use-syslog: no",
    '  logfile: ""',
    '  username: ""',
    '  chroot: ""',
    '  pidfile: ""',
    "  verbosity: 0",
    "  do-not-query-localhost: no",
    "  access-control: 127.0.0.0/8 allow",
    '  module-config: "iterator"',
    "  num-threads: 1",
  ];
}
