/**
 * Profile → gzipped `profile.proto`, through `@datadog/pprof`'s encoder.
 * Every profile this package serves passes through here, and gets its main
 * mapping here (`withMainMapping`): one place, whatever built the profile.
 */

import type { Profile } from "../deps.ts";
import { encode, encodeSync } from "../deps.ts";
import { withMainMapping } from "./pprof.ts";

type EncoderProfile = Parameters<typeof encode>[0];

/** Gzipped protobuf bytes of `p`, what `go tool pprof` reads. */
export async function encodeProfile(p: Profile): Promise<Uint8Array> {
  return await encode(withMainMapping(p) as unknown as EncoderProfile);
}

/** The synchronous form of `encodeProfile`. */
export function encodeProfileSync(p: Profile): Uint8Array {
  return encodeSync(withMainMapping(p) as unknown as EncoderProfile);
}
