// Fixture for tests/profile: hot functions at known TypeScript lines. The
// types, enum and class above them make Deno's emitted JavaScript lines differ
// from these, so a profile that reports these lines was source-mapped.
//
// V8 may book an inlined function's samples to its caller; alpha and beta
// carry a dead block that puts them over the inliners' bytecode budget, so
// share measurements do not depend on that.

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
  if (ms < 0) {
    // Never runs: makes the function too big for V8 to inline (see top).
    x += ms * 0.5;
    x -= ms / 2;
    x += ms * 1.5;
    x -= ms / 3;
    x += ms * 2.5;
    x -= ms / 4;
    x += ms * 3.5;
    x -= ms / 5;
    x += ms * 4.5;
    x -= ms / 6;
    x += ms * 5.5;
    x -= ms / 7;
    x += ms * 6.5;
    x -= ms / 8;
    x += ms * 7.5;
    x -= ms / 9;
    x += ms * 8.5;
    x -= ms / 10;
    x += ms * 9.5;
    x -= ms / 11;
    x += ms * 10.5;
    x -= ms / 12;
    x += ms * 11.5;
    x -= ms / 13;
    x += ms * 12.5;
    x -= ms / 14;
    x += ms * 13.5;
    x -= ms / 15;
    x += ms * 14.5;
    x -= ms / 16;
    x += ms * 15.5;
    x -= ms / 17;
    x += ms * 16.5;
    x -= ms / 18;
    x += ms * 17.5;
    x -= ms / 19;
    x += ms * 18.5;
    x -= ms / 20;
    x += ms * 19.5;
    x -= ms / 21;
    x += ms * 20.5;
    x -= ms / 22;
    x += ms * 21.5;
    x -= ms / 23;
    x += ms * 22.5;
    x -= ms / 24;
    x += ms * 23.5;
    x -= ms / 25;
    x += ms * 24.5;
    x -= ms / 26;
    x += ms * 25.5;
    x -= ms / 27;
    x += ms * 26.5;
    x -= ms / 28;
    x += ms * 27.5;
    x -= ms / 29;
    x += ms * 28.5;
    x -= ms / 30;
    x += ms * 29.5;
    x -= ms / 31;
    x += ms * 30.5;
    x -= ms / 32;
    x += ms * 31.5;
    x -= ms / 33;
    x += ms * 32.5;
    x -= ms / 34;
    x += ms * 33.5;
    x -= ms / 35;
    x += ms * 34.5;
    x -= ms / 36;
    x += ms * 35.5;
    x -= ms / 37;
    x += ms * 36.5;
    x -= ms / 38;
    x += ms * 37.5;
    x -= ms / 39;
    x += ms * 38.5;
    x -= ms / 40;
    x += ms * 39.5;
    x -= ms / 41;
  }
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) x += Math.sqrt(i + x);
  }
  return x;
}

/** Burns CPU for about `ms` milliseconds. */
export function beta(ms: number): number {
  const end = performance.now() + ms;
  let x = 0;
  if (ms < 0) {
    // Never runs: makes the function too big for V8 to inline (see top).
    x += ms * 0.5;
    x -= ms / 2;
    x += ms * 1.5;
    x -= ms / 3;
    x += ms * 2.5;
    x -= ms / 4;
    x += ms * 3.5;
    x -= ms / 5;
    x += ms * 4.5;
    x -= ms / 6;
    x += ms * 5.5;
    x -= ms / 7;
    x += ms * 6.5;
    x -= ms / 8;
    x += ms * 7.5;
    x -= ms / 9;
    x += ms * 8.5;
    x -= ms / 10;
    x += ms * 9.5;
    x -= ms / 11;
    x += ms * 10.5;
    x -= ms / 12;
    x += ms * 11.5;
    x -= ms / 13;
    x += ms * 12.5;
    x -= ms / 14;
    x += ms * 13.5;
    x -= ms / 15;
    x += ms * 14.5;
    x -= ms / 16;
    x += ms * 15.5;
    x -= ms / 17;
    x += ms * 16.5;
    x -= ms / 18;
    x += ms * 17.5;
    x -= ms / 19;
    x += ms * 18.5;
    x -= ms / 20;
    x += ms * 19.5;
    x -= ms / 21;
    x += ms * 20.5;
    x -= ms / 22;
    x += ms * 21.5;
    x -= ms / 23;
    x += ms * 22.5;
    x -= ms / 24;
    x += ms * 23.5;
    x -= ms / 25;
    x += ms * 24.5;
    x -= ms / 26;
    x += ms * 25.5;
    x -= ms / 27;
    x += ms * 26.5;
    x -= ms / 28;
    x += ms * 27.5;
    x -= ms / 29;
    x += ms * 28.5;
    x -= ms / 30;
    x += ms * 29.5;
    x -= ms / 31;
    x += ms * 30.5;
    x -= ms / 32;
    x += ms * 31.5;
    x -= ms / 33;
    x += ms * 32.5;
    x -= ms / 34;
    x += ms * 33.5;
    x -= ms / 35;
    x += ms * 34.5;
    x -= ms / 36;
    x += ms * 35.5;
    x -= ms / 37;
    x += ms * 36.5;
    x -= ms / 38;
    x += ms * 37.5;
    x -= ms / 39;
    x += ms * 38.5;
    x -= ms / 40;
    x += ms * 39.5;
    x -= ms / 41;
  }
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) x += Math.sqrt(i + x);
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
