/**
 * The source-map reader, pinned (re-exported by deps.ts too). A module of
 * its own so that what needs only it (lib/profile/sourcemap.ts) does not
 * load the profile serializers' packages: the watcher Worker starts faster.
 */

export {
  GREATEST_LOWER_BOUND,
  LEAST_UPPER_BOUND,
  originalPositionFor,
  TraceMap,
} from "npm:@jridgewell/trace-mapping@0.3.31";
