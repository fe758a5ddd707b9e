/**
 * Values as people read them, for the viewer's modules: a unit's value
 * (`1.25 s`, `3.5 MiB`), a share, a signed change, and DOM helpers that
 * put profile text in the page only as text (never as markup).
 */

/** `value` in `unit` (a pprof sample type's unit). */
export function formatValue(value, unit) {
  const sign = value < 0 ? "−" : "";
  let v = Math.abs(value);
  if (unit === "nanoseconds") {
    if (v >= 1e9) return sign + (v / 1e9).toFixed(2) + " s";
    if (v >= 1e6) return sign + (v / 1e6).toFixed(1) + " ms";
    if (v >= 1e3) return sign + (v / 1e3).toFixed(1) + " µs";
    return sign + Math.round(v) + " ns";
  }
  if (unit === "bytes") {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return sign + (i ? v.toFixed(1) : String(Math.round(v))) + " " + units[i];
  }
  return sign + Math.round(v).toLocaleString("en-US") +
    (unit && unit !== "count" ? " " + unit : "");
}

/** A change, with its sign. */
export function formatDelta(value, unit) {
  return (value > 0 ? "+" : "") + formatValue(value, unit);
}

/** `v` as a share of `of`. */
export function pct(v, of) {
  return of ? (100 * v / of).toFixed(1) + "%" : "-";
}

/** A file as shown: no `file://`, and the last `keep` path parts when asked. */
export function shortFile(file, keep) {
  const path = String(file || "").replace(/^file:\/\//, "");
  if (!keep) return path;
  const parts = path.split("/");
  return parts.length > keep ? "…/" + parts.slice(-keep).join("/") : path;
}

/** A new element with text content and attributes. */
export function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

/** Removes every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** A case-insensitive RegExp for `text`; its literal form when not valid. */
export function searchPattern(text) {
  if (!text) return null;
  try {
    return new RegExp(text, "i");
  } catch (_) {
    return new RegExp(text.replace(/[.*+?^$(){}|[\]\\]/g, "\\$&"), "i");
  }
}
