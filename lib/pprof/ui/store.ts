/**
 * The profiles the viewer was asked to show, kept in memory under random
 * ids so that a view is a link (`ui/?id=…`) that can be reloaded, shared
 * and compared with a later one. Bounded: the oldest go first.
 */

import { decodeProfile, type Model, readModel } from "./analysis.ts";

/** How many profiles a viewer keeps. */
export const KEPT_PROFILES = 16;
/**
 * The profile bytes it keeps at most (one larger than this is still kept,
 * alone): each kept profile is also held decoded, several times its size.
 */
export const KEPT_BYTES = 64 * 2 ** 20;

export interface Kept {
  id: string;
  /** What it is, for people: "CPU profile of 10 s", "heap.pb.gz". */
  title: string;
  /** The endpoint it came from (`profile`, `heap`, …), or `upload`. */
  source: string;
  /** The query it was taken with (`seconds=10`), for a new capture of the same. */
  query: string;
  /** When it was kept (ms since the epoch). */
  keptAt: number;
  /** The profile as served or uploaded (gzipped or raw protobuf). */
  bytes: Uint8Array;
  model: Model;
}

export class ProfileStore {
  readonly #kept = new Map<string, Kept>();

  /** Decodes and keeps a profile; throws (with a reason) if it is not one. */
  add(
    bytes: Uint8Array,
    what: { title: string; source: string; query?: string },
  ): Kept {
    const model = readModel(decodeProfile(bytes));
    const kept: Kept = {
      id: newId(),
      title: what.title,
      source: what.source,
      query: what.query ?? "",
      keptAt: Date.now(),
      bytes,
      model,
    };
    this.#kept.set(kept.id, kept);
    this.#trim();
    return kept;
  }

  get(id: string): Kept | undefined {
    return this.#kept.get(id);
  }

  /** Newest first. */
  list(): Kept[] {
    return [...this.#kept.values()].reverse();
  }

  #trim() {
    let bytes = 0;
    for (const k of this.#kept.values()) bytes += k.bytes.byteLength;
    for (const [id, k] of this.#kept) {
      if (this.#kept.size <= 1) break;
      if (this.#kept.size <= KEPT_PROFILES && bytes <= KEPT_BYTES) break;
      this.#kept.delete(id);
      bytes -= k.bytes.byteLength;
    }
  }
}

/** 12 hex digits from the CSPRNG: not guessable from another id. */
function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
