/**
 * The viewer page: its address is its state. `?type=profile&seconds=10`
 * takes a profile and shows it; the address then names the kept profile
 * (`id`) so it can be reloaded and shared, and every choice made on the
 * page (view, sample type, label, base, search, zoom, sort, source file)
 * is a parameter of it. The server computes each view (flame.json,
 * top.json, source.json, report.md); this script draws them.
 */

import { FlameGraph } from "./flame.js";
import { fillFiles, renderSource, renderTop } from "./tables.js";
import {
  clear,
  el,
  formatDelta,
  formatValue,
  pct,
  searchPattern,
  shortFile,
} from "./format.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["flame", "top", "source", "report"];
/** Parameters that pick the data; the others only change how it is drawn. */
const DATA_PARAMS = ["id", "sample", "label", "base", "normalize"];

const els = {
  take: $("take"),
  type: $("type"),
  seconds: $("seconds"),
  secondsLabel: $("seconds-label"),
  file: $("file"),
  nav: $("views"),
  speedscope: $("speedscope"),
  save: $("save"),
  markdown: $("markdown"),
  controls: $("controls"),
  sample: $("sample"),
  label: $("label"),
  labelLabel: $("label-label"),
  search: $("search"),
  matched: $("matched"),
  reset: $("reset"),
  compare: $("compare"),
  base: $("base"),
  normalize: $("normalize"),
  again: $("again"),
  baseFile: $("base-file"),
  status: $("status"),
  details: $("details"),
  top: $("top"),
  topNote: $("top-note"),
  files: $("files"),
  sourceNote: $("source-note"),
  source: $("source"),
  report: $("report"),
};

const flame = new FlameGraph($("flame"), $("tooltip"), {
  zoomed(index) {
    setParams({ zoom: index ? String(index) : null });
    showDetails(index);
  },
  matched(text) {
    els.matched.textContent = text;
  },
});

const cache = new Map(); // data URL → Promise of its JSON or text
let busy = null; // the AbortController of a running take or upload
let shown = null; // the data of the view on the page

function params() {
  return new URLSearchParams(location.search);
}

/** Changes parameters (null removes one); a new history entry when `push`. */
function setParams(changes, push) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    p.delete(k);
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else if (v !== null && v !== undefined && v !== "") p.set(k, v);
  }
  const url = "?" + p.toString();
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** The address of the page with `changes`, for links. */
function hrefWith(changes) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    p.delete(k);
    if (v !== null && v !== undefined && v !== "") p.set(k, v);
  }
  return "?" + p.toString();
}

/** The data parameters of the page, plus `extra`. */
function dataQuery(extra) {
  const p = params();
  const q = new URLSearchParams();
  for (const k of DATA_PARAMS) p.getAll(k).forEach((v) => q.append(k, v));
  for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
  return q.toString();
}

function setStatus(text, error) {
  els.status.textContent = text;
  els.status.className = error ? "error" : "";
}

/** GETs (once per URL) JSON or text; a Go error becomes an Error with its text. */
function fetchData(url, as) {
  if (!cache.has(url)) {
    const promise = fetch(url).then(async (r) => {
      if (!r.ok) {
        const error = new Error(r.status + " " + (await r.text()).trim());
        error.status = r.status;
        throw error;
      }
      return as === "text" ? r.text() : r.json();
    });
    promise.catch(() => cache.delete(url));
    cache.set(url, promise);
  }
  return cache.get(url);
}

function begin(text) {
  if (busy) busy.abort();
  busy = new AbortController();
  setStatus(text);
  return busy.signal;
}

/** Takes a profile through `load`; returns its id, or undefined (status says why). */
async function take(type, seconds) {
  const q = new URLSearchParams({ type });
  if (type === "profile" || seconds) q.set("seconds", String(seconds || 10));
  const signal = begin(
    type === "profile"
      ? "Profiling for " + q.get("seconds") + " s…"
      : "Taking the " + type + " profile…",
  );
  try {
    const r = await fetch("load?" + q.toString(), { signal });
    if (!r.ok) {
      setStatus(type + ": " + r.status + " " + (await r.text()).trim(), true);
      return undefined;
    }
    return (await r.json()).id;
  } catch (error) {
    if (error.name !== "AbortError") setStatus(String(error.message), true);
    return undefined;
  }
}

/** Keeps a profile file on the server; returns its id. */
async function upload(file) {
  const signal = begin("Reading " + file.name + "…");
  try {
    const r = await fetch("load?name=" + encodeURIComponent(file.name), {
      method: "POST",
      body: file,
      signal,
      headers: { "Content-Type": "application/octet-stream" },
    });
    if (!r.ok) {
      setStatus(
        file.name + ": " + r.status + " " + (await r.text()).trim(),
        true,
      );
      return undefined;
    }
    return (await r.json()).id;
  } catch (error) {
    if (error.name !== "AbortError") setStatus(String(error.message), true);
    return undefined;
  }
}

/** Fresh data parameters for a new profile: its own id, no choices of the old one. */
const FRESH = {
  id: null,
  sample: null,
  label: null,
  base: null,
  zoom: null,
  file: null,
  line: null,
  fn: null,
};

/**
 * Takes a profile and shows it. A link's own choices (`keep`: view, sample,
 * label, …) apply to the profile it takes; the form's take starts afresh.
 */
async function takeAndShow(type, seconds, keep) {
  const id = await take(type, seconds);
  if (!id) return;
  setParams({
    ...(keep ? {} : FRESH),
    id,
    type,
    seconds: type === "profile" ? String(seconds || 10) : null,
  }, !keep);
  await show();
}

/** Shows the view the address names. */
async function show() {
  const p = params();
  const view = VIEWS.includes(p.get("view")) ? p.get("view") : "flame";
  for (const v of VIEWS) $(v + "-view").hidden = v !== view;
  els.search.value = p.get("search") || "";
  els.type.value = p.get("type") || els.type.value;
  if (p.get("seconds")) els.seconds.value = p.get("seconds");
  els.secondsLabel.hidden = els.type.value !== "profile";
  if (!p.get("id")) return;
  setStatus("Loading…");
  try {
    if (view === "flame") await showFlame(p);
    else if (view === "top") await showTop(p);
    else if (view === "source") await showSource(p);
    else await showReport(p);
  } catch (error) {
    showError(error, p);
  }
}

function showError(error, p) {
  setStatus(String(error.message || error), true);
  if (error.status === 404 && p.get("type")) {
    const again = el("button", "Take it again", { type: "button" });
    again.addEventListener(
      "click",
      () => takeAndShow(p.get("type"), p.get("seconds"), true),
    );
    els.status.append(" ", again);
  }
}

async function showFlame(p) {
  const data = await fetchData("flame.json?" + dataQuery());
  await controls(data);
  const unit = data.sampleTypes[data.index].unit;
  if (shown !== data) {
    flame.setTree(data.tree, unit);
    shown = data;
  }
  flame.pattern = searchPattern(p.get("search"));
  flame.zoomTo(Number(p.get("zoom")) || 0);
  showDetails(flame.zoom);
  summarize(data, (data.tree.func.length - 1) + " call-path nodes");
  // When the view was drawn, for the bench (ms since navigation began).
  document.body.dataset.rendered = String(Math.round(performance.now()));
}

function showDetails(index) {
  clear(els.details);
  if (!index) return;
  const name = flame.nameOf(index);
  const file = flame.fileOf(index);
  els.details.append(
    el("strong", name),
    " ",
    el("span", flame.describe(index).slice(file ? 2 : 1).join(" · ")),
  );
  if (file) {
    els.details.append(
      " ",
      el("a", "Source of " + shortFile(file, 2), {
        href: hrefWith({
          view: "source",
          file,
          fn: name,
          line: null,
          zoom: null,
        }),
        "data-view": "source",
      }),
    );
  }
}

async function showTop(p) {
  const data = await fetchData("top.json?" + dataQuery());
  await controls(data);
  shown = data;
  drawTop(data, p);
  summarize(data, data.rows.length + " functions");
}

/** Draws the top table of `data` as the address says (sort, search). */
function drawTop(data, p) {
  els.topNote.textContent = renderTop(
    els.top,
    data,
    { sort: p.get("sort"), pattern: searchPattern(p.get("search")) },
    (file, line, fn) =>
      hrefWith({ view: "source", file, line: line ? String(line) : null, fn }),
    (sort) => {
      setParams({ sort });
      drawTop(data, params());
    },
  );
}

async function showSource(p) {
  const data = await fetchData(
    "source.json?" + dataQuery({ file: p.get("file") }),
  );
  await controls(data);
  shown = data;
  fillFiles(els.files, data);
  els.sourceNote.textContent = data.reason
    ? data.reason
    : shortFile(data.file) +
      (data.from === "source map" ? " (its text from the source map)" : "");
  els.sourceNote.className = data.reason ? "unavailable" : "";
  const hottest = renderSource(els.source, data, {
    fn: p.get("fn"),
    line: Number(p.get("line")) || 0,
  });
  summarize(
    data,
    hottest
      ? "hottest line " + shortFile(data.file, 1) + ":" + hottest.line
      : "no line of this file has a cost",
  );
}

async function showReport(p) {
  const meta = await fetchData("top.json?" + dataQuery());
  await controls(meta);
  const text = await fetchData("report.md?" + dataQuery(), "text");
  els.report.textContent = text;
  summarize(meta, "Markdown: " + text.split("\n").length + " lines");
  void p;
}

/** The status line: what is shown, its total, and against what. */
function summarize(data, more) {
  const t = data.sampleTypes[data.index];
  let text = data.title + ": " + formatValue(data.total, t.unit) + " of " +
    t.type;
  if (data.base) {
    text += ", against " + data.base.title + " (" +
      formatValue(data.base.total, t.unit) + ", change " +
      formatDelta(data.total - data.base.total, t.unit) + ")";
  }
  const labels = params().getAll("label");
  if (labels.length) text += ", only " + labels.join(" and ");
  setStatus(text + " · " + more);
}

/** Fills the selectors and links from a view's data. */
async function controls(data) {
  els.nav.hidden = false;
  els.controls.hidden = false;
  els.compare.hidden = false;
  const p = params();
  clear(els.sample);
  data.sampleTypes.forEach((t, i) => {
    const o = el("option", t.type + " (" + t.unit + ")", { value: t.type });
    if (i === data.index) o.selected = true;
    els.sample.appendChild(o);
  });

  clear(els.label);
  els.label.appendChild(el("option", "all samples", { value: "" }));
  const unit = data.sampleTypes[data.index].unit;
  for (const { key, values } of data.labels) {
    const all = values.reduce((s, v) => s + v.total, 0);
    for (const v of values) {
      els.label.appendChild(
        el(
          "option",
          key + "=" + v.value + " (" + formatValue(v.total, unit) + ", " +
            pct(v.total, all) + ")",
          { value: key + "=" + v.value },
        ),
      );
    }
  }
  const chosen = p.getAll("label");
  els.label.value = chosen.length === 1 ? chosen[0] : "";
  els.labelLabel.hidden = data.labels.length === 0;

  const kept = await fetchData("kept.json?" + Date.now());
  clear(els.base);
  els.base.appendChild(el("option", "nothing", { value: "" }));
  for (const k of kept) {
    if (k.id === data.id) continue;
    const when = new Date(k.keptAt).toLocaleTimeString();
    els.base.appendChild(
      el("option", k.title + " · " + when, { value: k.id }),
    );
  }
  els.base.value = p.get("base") || "";
  els.normalize.checked = p.get("normalize") === "1";
  els.again.hidden = !p.get("type");

  for (const a of els.nav.querySelectorAll("a[data-view]")) {
    const view = a.getAttribute("data-view");
    a.href = hrefWith({ view });
    a.classList.toggle("active", (p.get("view") || "flame") === view);
  }
  const narrowed = new URLSearchParams({ id: data.id });
  if (p.get("sample")) narrowed.set("sample", p.get("sample"));
  chosen.forEach((l) => narrowed.append("label", l));
  els.save.href = "profile.pb.gz?" + narrowed.toString();
  els.markdown.href = "report.md?" + dataQuery();
  els.speedscope.href = "speedscope/#profileURL=" +
    encodeURIComponent("../profile.pb.gz?" + narrowed.toString()) +
    "&title=" + encodeURIComponent(data.title) + "&view=left-heavy";
}

// ---- events

els.take.addEventListener("submit", (e) => {
  e.preventDefault();
  takeAndShow(els.type.value, Number(els.seconds.value) || 10);
});
els.type.addEventListener("change", () => {
  els.secondsLabel.hidden = els.type.value !== "profile";
});
/** Keeps `file` (from the file input or a drop) and shows it, or as the base. */
async function openFile(file, asBase) {
  const id = file ? await upload(file) : undefined;
  if (!id) return;
  setParams(
    asBase
      ? { base: id, zoom: null }
      : { ...FRESH, id, type: null, seconds: null },
    true,
  );
  show();
}

els.file.addEventListener("change", async () => {
  await openFile(els.file.files[0], false);
  els.file.value = "";
});
els.sample.addEventListener("change", () => {
  setParams({ sample: els.sample.value, zoom: null }, true);
  show();
});
els.label.addEventListener("change", () => {
  setParams(
    { label: els.label.value ? [els.label.value] : null, zoom: null },
    true,
  );
  show();
});
els.search.addEventListener("input", () => {
  setParams({ search: els.search.value });
  const view = params().get("view") || "flame";
  if (!shown) return;
  if (view === "flame") flame.setSearch(searchPattern(els.search.value));
  else if (view === "top") drawTop(shown, params());
});
els.reset.addEventListener("click", () => {
  flame.zoomTo(0);
  setParams({ zoom: null });
  showDetails(0);
});
els.base.addEventListener("change", () => {
  setParams({ base: els.base.value, zoom: null }, true);
  show();
});
els.normalize.addEventListener("change", () => {
  setParams({ normalize: els.normalize.checked ? "1" : null }, true);
  show();
});
els.again.addEventListener("click", async () => {
  const p = params();
  const before = p.get("id");
  const id = await take(p.get("type"), p.get("seconds"));
  if (!id) return;
  setParams({ ...FRESH, id, base: before, view: p.get("view") }, true);
  show();
});
els.baseFile.addEventListener("change", async () => {
  await openFile(els.baseFile.files[0], true);
  els.baseFile.value = "";
});
els.files.addEventListener("change", () => {
  setParams({ file: els.files.value, line: null, fn: null }, true);
  show();
});
// View links change the address without leaving the page.
document.addEventListener("click", (e) => {
  const a = e.target.closest ? e.target.closest("a[data-view]") : null;
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  show();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && flame.zoom) els.reset.click();
});
document.addEventListener("dragover", (e) => {
  e.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", (e) => {
  if (!e.relatedTarget) document.body.classList.remove("dragging");
});
document.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dragging");
  openFile(e.dataTransfer && e.dataTransfer.files[0], false);
});
globalThis.addEventListener("popstate", () => show());
let resizing = 0;
globalThis.addEventListener("resize", () => {
  cancelAnimationFrame(resizing);
  resizing = requestAnimationFrame(() => {
    if (shown && !$("flame-view").hidden) flame.render();
  });
});

// A link names a kept profile (id) or one to take (type, seconds); a bare
// ui/ shows the heap, which takes no time.
const first = params();
if (first.get("id")) show();
else {
  takeAndShow(first.get("type") || "heap", first.get("seconds"), true);
}
