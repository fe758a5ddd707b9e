/**
 * Profile → gzipped `profile.proto`, what `go tool pprof` reads. Every
 * profile this package serves passes through here, and gets its main mapping
 * here (`withMainMapping`): one place, whatever built the profile.
 */

import { gzip, gzipSync } from "node:zlib";
import type { Profile } from "../deps.ts";
import { withMainMapping } from "./pprof.ts";
import { encodeProto } from "./proto.ts";

/**
 * Up to this many protobuf bytes gzip on the spot (a CPU profile's tens of
 * KiB take well under a millisecond); larger ones, such as the heap profile
 * of a big heap, on zlib's thread so the event loop keeps running.
 */
const GZIP_INLINE_BYTES = 1 << 20;

/** Gzipped protobuf bytes of `p`. */
export async function encodeProfile(p: Profile): Promise<Uint8Array> {
  const raw = encodeProto(withMainMapping(p));
  if (raw.length <= GZIP_INLINE_BYTES) return gzipSync(raw);
  return await new Promise((resolve, reject) =>
    gzip(raw, (error, bytes) => error ? reject(error) : resolve(bytes))
  );
}

/** The synchronous form of `encodeProfile`. */
export function encodeProfileSync(p: Profile): Uint8Array {
  return gzipSync(encodeProto(withMainMapping(p)));
}
