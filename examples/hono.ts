// A Hono app with /debug/pprof mounted in two lines (marked).
//
//   deno run --allow-net --allow-sys --allow-read --allow-env examples/hono.ts
//   curl 'http://127.0.0.1:8000/fib/27'
//   go tool pprof -top http://127.0.0.1:8000/debug/pprof/profile?seconds=5
//
// PORT picks another port (0: any free one).
import { Hono } from "npm:hono@4.13.19";
import { pprofHandler } from "../lib/pprof/mod.ts";

/** The app's hot function: Fibonacci numbers the slow way. */
export function fibonacci(n: number): number {
  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);
}

// Deno.serve passes its handler info on, which Hono keeps as c.env.
const app = new Hono<{ Bindings: Deno.ServeHandlerInfo }>();
const pprof = pprofHandler(); // pprof, line 1 of 2
app.all("/debug/pprof/*", (c) => pprof(c.req.raw, c.env)); // pprof, line 2 of 2
app.get(
  "/fib/:n",
  (c) => c.json({ fibonacci: fibonacci(Number(c.req.param("n"))) }),
);

Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? 8000) },
  app.fetch,
);
