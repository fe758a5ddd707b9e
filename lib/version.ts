/** coredeno's version, printed as `coredeno-VERSION` (CoreDNS prints `CoreDNS-1.14.7`). */
export const VERSION = "0.1.0";

/** The commit the binary was built from; empty in development, as CoreDNS's dev builds. */
export const GIT_COMMIT = "";
