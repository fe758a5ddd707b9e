// Fixture for tests/profile: hot functions at known TypeScript lines. The
// types, enum and class above them make Deno's emitted JavaScript lines differ
// from these, so a profile that reports these lines was source-mapped.
//
// alpha and beta are small enough for V8 to inline into their callers: the
// profiles must still show them (V8's defaults, as users run).

export interface Shape {
  kind: "square" | "circle";
  size: number;
}

export type Maybe<T> = T | undefined;

export enum Weight {
  Light = 1,
  Heavy = 4,
}

export class Counter {
  constructor(private count: number, public readonly label: string) {}
  bump(): number {
    return ++this.count;
  }
}

/** Burns CPU for about `ms` milliseconds. */
export function alpha(ms: number): number {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) x += Math.sqrt(i + x); // hot loop
  }
  return x;
}

/** Burns CPU for about `ms` milliseconds. */
export function beta(ms: number): number {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) x += Math.sqrt(i + x); // hot loop
  }
  return x;
}

/** Keeps `count` small objects alive in `into`. */
export function retainObjects(into: unknown[], count: number): void {
  for (let i = 0; i < count; i++) into.push({ a: i, b: i + 1 });
}

/** Keeps `count` arrays of `length` doubles (on the V8 heap) alive. */
export function retainArrays(
  into: unknown[],
  count: number,
  length: number,
): void {
  for (let i = 0; i < count; i++) into.push(new Array(length).fill(i + 0.5));
}

/** Allocates `count` small objects that die soon (a 1024-slot ring). */
export function makeGarbage(ring: unknown[], count: number): number {
  for (let i = 0; i < count; i++) ring[i & 1023] = { a: i, b: i + 1 };
  return ring.length;
}
