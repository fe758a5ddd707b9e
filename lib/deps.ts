/**
 * The npm packages coredeno's library is built on, pinned once, by full
 * `npm:` specifier. Public modules (`lib/pprof`, `lib/profile`) import them
 * from here rather than through deno.json's import map, which applies only
 * inside this repository: a script in any other folder can import them by
 * path or URL.
 *
 * `@datadog/pprof`'s main entry loads a native addon Deno cannot load, so its
 * pure-JavaScript modules are imported by subpath. Source maps are read with
 * `@jridgewell/trace-mapping`: pure JavaScript, so it works inside a bundle
 * (`source-map` 0.8 reads a `.wasm` file beside its own module, which a
 * bundle does not have).
 *
 * Modules load what they import, re-exports included, so the heavier
 * packages have modules of their own and load only where used:
 * `@datadog/pprof`'s serializer and source mapper (deps_datadog.ts: the heap
 * profile and the Node-compat API) and the source-map reader (deps_maps.ts).
 */

export {
  Function,
  Label,
  Line,
  Location,
  Mapping,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "npm:pprof-format@2.3.2";
export type {
  GeneratedLocation,
  SourceLocation,
} from "npm:@datadog/pprof@5.20.0/out/src/sourcemapper/sourcemapper.js";
export type {
  Allocation,
  AllocationProfileNode,
  GenerateAllocationLabelsFunction,
} from "npm:@datadog/pprof@5.20.0/out/src/v8-types.js";
export {
  GREATEST_LOWER_BOUND,
  LEAST_UPPER_BOUND,
  originalPositionFor,
  TraceMap,
} from "./deps_maps.ts";
