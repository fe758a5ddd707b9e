// Capture a CPU and a heap profile in-process, as with @datadog/pprof,
// and write them as .pb.gz files that `go tool pprof` reads.
// Run: deno run --allow-sys --allow-read --allow-env --allow-write examples/capture.ts
import { encode, heap, time } from "../lib/profile/mod.ts";

function work(): number {
  let x = 0;
  for (let i = 0; i < 5_000_000; i++) x += Math.sqrt(i);
  return x;
}

heap.start(512 * 1024, 64);
const busy = setInterval(work, 1);
const cpu = await time.profile({ durationMillis: 1000, intervalMicros: 1000 });
clearInterval(busy);
await Deno.writeFile("wall.pb.gz", await encode(cpu));
await Deno.writeFile("heap.pb.gz", await encode(heap.profile()));
heap.stop();
console.log("wrote wall.pb.gz and heap.pb.gz");
