/** Profile → gzipped `profile.proto`, through `@datadog/pprof`'s encoder. */

import type { Profile } from "../deps.ts";
import { encode, encodeSync } from "../deps.ts";

type EncoderProfile = Parameters<typeof encode>[0];

/** Gzipped protobuf bytes of `p`, what `go tool pprof` reads. */
export async function encodeProfile(p: Profile): Promise<Uint8Array> {
  return await encode(p as unknown as EncoderProfile);
}

/** The synchronous form of `encodeProfile`. */
export function encodeProfileSync(p: Profile): Uint8Array {
  return encodeSync(p as unknown as EncoderProfile);
}
