/**
 * `@datadog/pprof`'s pure-JavaScript modules, pinned (see deps.ts): its heap
 * serializer and its source mapper, loaded only by what uses them (the heap
 * profile, the Node-compat API), since the serializer's package is large.
 */

export { serializeHeapProfile } from "npm:@datadog/pprof@5.20.0/out/src/profile-serializer.js";
export { SourceMapper } from "npm:@datadog/pprof@5.20.0/out/src/sourcemapper/sourcemapper.js";
