// A program whose work runs in Web Workers, and knows nothing of pprof:
// `coredeno run` profiles it, every isolate in one profile, each sample
// labelled with its isolate.
//
//   deno task run examples/workers.ts
//   go tool pprof -top -tags http://localhost:6053/debug/pprof/profile?seconds=5
//   go tool pprof -top -tagfocus isolate=hasher http://localhost:6053/debug/pprof/profile?seconds=5
//
// Two workers: "hasher" hashes blocks of bytes, "sieve" counts primes; the
// main thread only collects their counts.

const workers = ["hasher", "sieve"].map((name) =>
  new Worker(new URL("./workers_task.ts", import.meta.url), {
    type: "module",
    name,
  })
);
let rounds = 0;
for (const worker of workers) {
  worker.onmessage = () => {
    if (++rounds % 100 === 0) console.log(`${rounds} rounds`);
    worker.postMessage("again");
  };
  worker.postMessage("start");
}
