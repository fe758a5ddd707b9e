// A plain Deno.serve app with /debug/pprof mounted in two lines (marked).
//
//   deno run --allow-net --allow-sys --allow-read --allow-env examples/deno_serve.ts
//   curl 'http://127.0.0.1:8000/?limit=50000'
//   go tool pprof -top http://127.0.0.1:8000/debug/pprof/profile?seconds=5
//
// PORT picks another port (0: any free one).
import { withPprof } from "../lib/pprof/mod.ts"; // pprof, line 1 of 2

/** What the app answers. */
interface PrimeCount {
  limit: number;
  primes: number;
}

/** The app's hot function: counts primes below `limit` by trial division. */
export function countPrimes(limit: number): PrimeCount {
  let primes = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) primes++;
  }
  return { limit, primes };
}

function app(request: Request): Response {
  const limit = Number(new URL(request.url).searchParams.get("limit") ?? 1e4);
  return Response.json(countPrimes(limit));
}

Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? 8000) },
  withPprof(app), // pprof, line 2 of 2
);
