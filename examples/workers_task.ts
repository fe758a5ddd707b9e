// The workers of examples/workers.ts: each works a round per message, by
// its name.

/** FNV-1a over `size` bytes, `times` times: "hasher"'s round. */
function hashBlocks(size: number, times: number): number {
  const bytes = new Uint8Array(size).map((_, i) => i * 31);
  let hash = 0x811c9dc5;
  for (let t = 0; t < times; t++) {
    for (const b of bytes) hash = Math.imul(hash ^ b, 0x01000193) >>> 0;
  }
  return hash;
}

/** The primes below `limit`, by a sieve: "sieve"'s round. */
function countPrimes(limit: number): number {
  const composite = new Uint8Array(limit);
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (composite[n]) continue;
    count++;
    for (let m = n * n; m < limit; m += n) composite[m] = 1;
  }
  return count;
}

const scope = self as unknown as Worker & { name: string };
scope.onmessage = () => {
  const result = scope.name === "hasher"
    ? hashBlocks(64 * 1024, 20)
    : countPrimes(2_000_000);
  scope.postMessage(result);
};
