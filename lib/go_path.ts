/**
 * Go's `path.Clean` (the same as `path/filepath.Clean` on Unix): Corefile
 * imports resolve paths with it, and `http.ServeMux` cleans request paths
 * with it before pprof routes them.
 */

/** Go's path.Clean: the shortest path naming the same file, lexically. */
export function clean(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = (rooted ? "/" : "") + out.join("/");
  return joined === "" ? "." : joined;
}
