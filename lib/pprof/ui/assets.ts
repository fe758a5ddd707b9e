/**
 * The flame-graph page, its script and its style, as string constants so a
 * `deno compile`d binary carries them and nothing is fetched from elsewhere.
 * The script is plain browser JavaScript (no build step): it asks
 * `data?type=...` (or POSTs a dropped file to `data`) for the flame tree
 * that `tree.ts` computes, and draws it as SVG. Profile text (function and
 * file names) only ever reaches the DOM through `textContent` and attributes.
 */

/** `<!--TYPES-->` is replaced by the `<option>`s of the served profiles. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flame graph · /debug/pprof/</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="flame.css">
<script src="flame.js" defer></script>
</head>
<body>
<header>
<h1>Flame graph</h1>
<a href="../">/debug/pprof/</a>
</header>
<form id="load-form">
<label>Profile <select id="type"><!--TYPES--></select></label>
<label id="seconds-label">for <input id="seconds" type="number" min="1" max="3600" value="5"> s</label>
<button id="load" type="submit">Load</button>
<span class="or">or drop a <code>.pb.gz</code> file anywhere on this page, or</span>
<input id="file" type="file" accept=".gz,.pb,.pprof,application/octet-stream" aria-label="Open a profile file">
</form>
<div id="controls" hidden>
<label>Value <select id="sample"></select></label>
<label>Search <input id="search" type="search" placeholder="function name or regexp" autocomplete="off"></label>
<span id="matched"></span>
<button id="reset" type="button">Reset zoom</button>
</div>
<p id="status" role="status" aria-live="polite">Choose a profile and press Load, or drop a profile file on the page.</p>
<div id="chart"><svg id="flame" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="flame graph"></svg></div>
<div id="tooltip" role="tooltip" hidden></div>
<section id="top-section" hidden>
<h2>Top functions</h2>
<table id="top">
<thead><tr><th>Self</th><th>Self %</th><th>Total</th><th>Total %</th><th>Function</th></tr></thead>
<tbody></tbody>
</table>
</section>
<footer>
Each box is a function on a call path; callers above, callees below; its width is its share of the value.
Click a box to zoom in, a box above it, Reset zoom or Esc to zoom out; hover for values.
CPU profiles come from V8's sampler: a function V8 inlined into its caller is counted in the caller.
</footer>
</body>
</html>
`;

export const FLAME_CSS = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #5f6368; --line: #d9d9de; }
* { box-sizing: border-box; }
body { margin: 0; padding: 12px 16px 24px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); }
body.dragging { outline: 3px dashed #e8710a; outline-offset: -6px; }
header { display: flex; align-items: baseline; gap: 16px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
form, #controls { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 14px; margin: 6px 0; }
#seconds { width: 5em; }
#search { width: 18em; }
.or { color: var(--muted); }
button { cursor: pointer; }
#status { margin: 8px 0; color: var(--muted); min-height: 1.4em; }
#status.error { color: #b3261e; white-space: pre-wrap; }
#matched { color: #8e24aa; font-weight: 600; }
#chart { width: 100%; overflow-x: hidden; border-top: 1px solid var(--line); padding-top: 4px; }
#flame { display: block; font: 12px system-ui, -apple-system, "Segoe UI", sans-serif; }
#flame .frame { cursor: pointer; }
#flame .frame rect { stroke: #fff; stroke-width: 0.5; }
#flame .frame:hover rect { stroke: #000; stroke-width: 1; }
#flame .frame text { fill: #000; pointer-events: none; }
#flame .ancestor rect { opacity: 0.55; }
#flame.searching .frame:not(.match) rect { opacity: 0.3; }
#flame .match rect { fill: #e040fb; }
#tooltip { position: fixed; z-index: 10; max-width: 40em; padding: 6px 8px; background: #fff; border: 1px solid #999;
  border-radius: 4px; box-shadow: 0 2px 8px rgba(0,0,0,.2); pointer-events: none; font-size: 13px; }
#tooltip .name { font-weight: 600; word-break: break-all; }
#tooltip .file { color: var(--muted); word-break: break-all; }
table { border-collapse: collapse; }
th, td { padding: 2px 10px 2px 0; text-align: right; font-variant-numeric: tabular-nums; }
th:last-child, td:last-child { text-align: left; }
#top tbody tr { cursor: pointer; }
#top tbody tr:hover { background: #f3f3f6; }
#top .file { color: var(--muted); margin-left: 0.5em; }
footer { margin-top: 20px; color: var(--muted); font-size: 12px; }
`;

// Plain browser JavaScript; String.raw keeps its backslashes as written.
export const FLAME_JS = String.raw`"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var SVG = "http://www.w3.org/2000/svg";
  var ROW = 18;
  var els = {
    form: $("load-form"), type: $("type"), seconds: $("seconds"), secondsLabel: $("seconds-label"),
    file: $("file"), controls: $("controls"), sample: $("sample"), search: $("search"),
    matched: $("matched"), reset: $("reset"), status: $("status"), chart: $("chart"),
    svg: $("flame"), tip: $("tooltip"), topSection: $("top-section"), top: $("top").tBodies[0]
  };
  var data = null;     // { type, sampleTypes, defaultIndex, root }
  var nodes = [];      // every node, by id
  var index = 0;       // the sample type drawn
  var zoom = null;     // the node drawn full width
  var pattern = null;  // the search, as a RegExp
  var busy = null;     // the AbortController of a running load
  var what = "";

  function setStatus(text, error) {
    els.status.textContent = text;
    els.status.className = error ? "error" : "";
  }

  function unit() { return data.sampleTypes[index] ? data.sampleTypes[index].unit : ""; }

  function fmt(v) {
    var u = unit();
    if (u === "nanoseconds") {
      if (v >= 1e9) return (v / 1e9).toFixed(2) + " s";
      if (v >= 1e6) return (v / 1e6).toFixed(1) + " ms";
      if (v >= 1e3) return (v / 1e3).toFixed(1) + " µs";
      return v + " ns";
    }
    if (u === "bytes") {
      var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
      while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return (i ? v.toFixed(1) : String(v)) + " " + units[i];
    }
    return Math.round(v).toLocaleString("en-US") + (u && u !== "count" ? " " + u : "");
  }

  function pct(v, of) { return of > 0 ? (100 * v / of).toFixed(1) + "%" : "-"; }

  // Parents, depths and ids, iteratively (stacks can be deep).
  function prepare(root) {
    nodes = [];
    var stack = [[root, null, 0]];
    while (stack.length) {
      var item = stack.pop(), n = item[0];
      n.id = nodes.length; n.parent = item[1]; n.depth = item[2];
      nodes.push(n);
      for (var i = n.children.length - 1; i >= 0; i--) stack.push([n.children[i], n, item[2] + 1]);
    }
  }

  // Values and left edges for the chosen sample type; empty boxes dropped.
  function layout() {
    for (var i = 0; i < nodes.length; i++) nodes[i].v = nodes[i].values[index] || 0;
    var root = data.root;
    root.start = 0;
    for (var j = 0; j < nodes.length; j++) {
      var n = nodes[j];
      n.kids = n.children.filter(function (c) { return c.v > 0; })
        .sort(function (a, b) { return b.v - a.v || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0); });
      var at = n.start;
      for (var k = 0; k < n.kids.length; k++) { n.kids[k].start = at; at += n.kids[k].v; }
    }
  }

  function hash(text) {
    var h = 2166136261;
    for (var i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 16777619); }
    return h >>> 0;
  }

  function color(n) {
    if (n.depth === 0) return "#c6c6cc";
    var h = hash(n.name);
    if (n.name.charAt(0) === "(") return "hsl(220, 10%, " + (68 + h % 10) + "%)";
    var file = n.file || "";
    if (/^(ext:|node:|internal)/.test(file)) return "hsl(" + (190 + h % 30) + ", 55%, " + (68 + h % 10) + "%)";
    return "hsl(" + (h % 50) + ", " + (75 + h % 20) + "%, " + (58 + (h >> 8) % 12) + "%)";
  }

  function fit(text, width) {
    var chars = Math.floor(width / 6.8);
    if (chars >= text.length) return text;
    return chars < 3 ? "" : text.slice(0, chars - 1) + "…";
  }

  function isMatch(n) { return pattern !== null && n.depth > 0 && pattern.test(n.name); }

  function draw(parent, n, x, w) {
    var g = document.createElementNS(SVG, "g");
    var cls = "frame";
    if (zoom && n.depth < zoom.depth) cls += " ancestor";
    if (isMatch(n)) cls += " match";
    g.setAttribute("class", cls);
    g.setAttribute("data-id", String(n.id));
    g.setAttribute("data-name", n.name);
    g.setAttribute("transform", "translate(" + x.toFixed(2) + "," + (n.depth * ROW) + ")");
    var title = document.createElementNS(SVG, "title");
    title.textContent = n.name + " — " + fmt(n.v) + " (" + pct(n.v, data.root.v) + ")";
    g.appendChild(title);
    var rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("width", Math.max(0.5, w - 0.5).toFixed(2));
    rect.setAttribute("height", String(ROW - 1));
    rect.setAttribute("fill", color(n));
    g.appendChild(rect);
    var label = w > 24 ? fit(n.name, w - 6) : "";
    if (label) {
      var text = document.createElementNS(SVG, "text");
      text.setAttribute("x", "3");
      text.setAttribute("y", String(ROW - 5));
      text.textContent = label;
      g.appendChild(text);
    }
    parent.appendChild(g);
  }

  function render() {
    var svg = els.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!data) return;
    var width = Math.max(320, els.chart.clientWidth);
    var z = zoom || data.root;
    var frag = document.createDocumentFragment();
    var deepest = z.depth;
    for (var a = z.parent; a; a = a.parent) draw(frag, a, 0, width);
    if (z.v > 0) {
      var stack = [z];
      while (stack.length) {
        var n = stack.pop();
        var w = n.v / z.v * width;
        if (w < 0.5) continue; // too thin to see or click; so are its callees
        draw(frag, n, (n.start - z.start) / z.v * width, w);
        if (n.depth > deepest) deepest = n.depth;
        for (var i = 0; i < n.kids.length; i++) stack.push(n.kids[i]);
      }
    }
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String((deepest + 1) * ROW + 1));
    svg.setAttribute("data-zoom", z.name);
    svg.setAttribute("class", pattern ? "searching" : "");
    svg.appendChild(frag);
    els.reset.disabled = !zoom;
    showMatched();
  }

  function showMatched() {
    if (!pattern) { els.matched.textContent = ""; return; }
    // Matches below another match are already counted in it.
    var sum = 0, stack = [data.root];
    while (stack.length) {
      var n = stack.pop();
      if (isMatch(n)) { sum += n.v; continue; }
      for (var i = 0; i < n.kids.length; i++) stack.push(n.kids[i]);
    }
    els.matched.textContent = "Matched: " + fmt(sum) + " (" + pct(sum, data.root.v) + ")";
  }

  // Self and total per function; a recursive function's total counts once per path.
  function renderTop() {
    var stats = new Map(), onPath = new Map();
    var stack = [[data.root, false]];
    while (stack.length) {
      var item = stack.pop(), n = item[0];
      if (n.depth === 0) {
        if (!item[1]) { stack.push([n, true]); for (var r = 0; r < n.kids.length; r++) stack.push([n.kids[r], false]); }
        continue;
      }
      var key = n.name + "\u0000" + (n.file || "");
      if (item[1]) { onPath.set(key, onPath.get(key) - 1); continue; }
      var s = stats.get(key);
      if (!s) stats.set(key, s = { name: n.name, file: n.file || "", self: 0, total: 0 });
      var below = 0;
      for (var i = 0; i < n.kids.length; i++) below += n.kids[i].v;
      s.self += n.v - below;
      if (!onPath.get(key)) s.total += n.v;
      onPath.set(key, (onPath.get(key) || 0) + 1);
      stack.push([n, true]);
      for (var j = 0; j < n.kids.length; j++) stack.push([n.kids[j], false]);
    }
    var rows = Array.from(stats.values()).sort(function (a, b) { return b.self - a.self || b.total - a.total; }).slice(0, 30);
    var body = els.top;
    while (body.firstChild) body.removeChild(body.firstChild);
    var all = data.root.v;
    rows.forEach(function (s) {
      var tr = document.createElement("tr");
      [fmt(s.self), pct(s.self, all), fmt(s.total), pct(s.total, all)].forEach(function (t) {
        var td = document.createElement("td"); td.textContent = t; tr.appendChild(td);
      });
      var fn = document.createElement("td");
      fn.textContent = s.name;
      if (s.file) { var f = document.createElement("span"); f.className = "file"; f.textContent = s.file; fn.appendChild(f); }
      tr.appendChild(fn);
      tr.title = "Search for " + s.name;
      tr.addEventListener("click", function () {
        els.search.value = "^" + s.name.replace(/[.*+?^$(){}|[\]\\]/g, "\\$&") + "$";
        onSearch();
      });
      body.appendChild(tr);
    });
    els.topSection.hidden = rows.length === 0;
  }

  function setData(tree, label) {
    data = tree;
    what = label;
    prepare(data.root);
    var sample = els.sample;
    while (sample.firstChild) sample.removeChild(sample.firstChild);
    data.sampleTypes.forEach(function (t, i) {
      var o = document.createElement("option");
      o.value = String(i);
      o.textContent = t.type + " (" + t.unit + ")";
      sample.appendChild(o);
    });
    index = Math.min(data.defaultIndex, Math.max(0, data.sampleTypes.length - 1));
    sample.value = String(index);
    zoom = null;
    els.controls.hidden = false;
    redraw();
  }

  function redraw() {
    layout();
    if (zoom && !(zoom.v > 0)) zoom = null;
    render();
    renderTop();
    var t = data.sampleTypes[index];
    setStatus(data.root.v > 0
      ? what + ": " + fmt(data.root.v) + " of " + (t ? t.type : "value") + " in " + (nodes.length - 1) + " frames"
      : what + ": no samples of " + (t ? t.type : "any value") + " (an empty profile)");
  }

  async function show(response, label) {
    if (!response.ok) {
      var text = (await response.text()).trim();
      setStatus(label + ": " + response.status + " " + text, true);
      return;
    }
    setData(await response.json(), label);
  }

  function start(text) {
    if (busy) busy.abort();
    busy = new AbortController();
    setStatus(text);
    return busy.signal;
  }

  function failed(error) {
    if (error && error.name === "AbortError") return;
    setStatus(String(error && error.message || error), true);
  }

  async function loadType() {
    var type = els.type.value;
    var params = new URLSearchParams({ type: type });
    var label = type;
    if (type === "profile") {
      var seconds = Math.max(1, Math.min(3600, Math.round(Number(els.seconds.value) || 5)));
      params.set("seconds", String(seconds));
      label = "CPU profile of " + seconds + " s";
    }
    history.replaceState(null, "", "?" + params.toString());
    var signal = start(type === "profile" ? "Profiling for " + params.get("seconds") + " s…" : "Loading " + type + "…");
    try {
      await show(await fetch("data?" + params.toString(), { signal: signal }), label);
    } catch (error) { failed(error); }
  }

  async function upload(file) {
    var signal = start("Reading " + file.name + "…");
    try {
      await show(await fetch("data", {
        method: "POST", body: file, signal: signal,
        headers: { "Content-Type": "application/octet-stream" }
      }), file.name);
    } catch (error) { failed(error); }
  }

  function onSearch() {
    var text = els.search.value;
    if (!text) pattern = null;
    else {
      try { pattern = new RegExp(text, "i"); } catch (_) {
        pattern = new RegExp(text.replace(/[.*+?^$(){}|[\]\\]/g, "\\$&"), "i");
      }
    }
    if (data) render();
  }

  function frameOf(target) {
    var g = target && target.closest ? target.closest("g.frame") : null;
    return g ? nodes[Number(g.getAttribute("data-id"))] : null;
  }

  function tip(event) {
    var n = frameOf(event.target);
    if (!n) { els.tip.hidden = true; return; }
    var below = 0;
    for (var i = 0; i < n.kids.length; i++) below += n.kids[i].v;
    var z = zoom || data.root;
    var t = els.tip;
    while (t.firstChild) t.removeChild(t.firstChild);
    var lines = [
      ["name", n.name], ["file", n.file || ""],
      ["", "Total: " + fmt(n.v) + " (" + pct(n.v, data.root.v) + " of all" + (zoom ? ", " + pct(n.v, z.v) + " of zoom" : "") + ")"],
      ["", "Self: " + fmt(n.v - below) + " (" + pct(n.v - below, data.root.v) + ")"]
    ];
    lines.forEach(function (l) {
      if (!l[1]) return;
      var d = document.createElement("div");
      d.className = l[0];
      d.textContent = l[1];
      t.appendChild(d);
    });
    t.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 14;
    var r = t.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 4) x = Math.max(4, event.clientX - r.width - 14);
    if (y + r.height > window.innerHeight - 4) y = Math.max(4, event.clientY - r.height - 14);
    t.style.left = x + "px";
    t.style.top = y + "px";
  }

  els.form.addEventListener("submit", function (e) { e.preventDefault(); loadType(); });
  els.type.addEventListener("change", function () { els.secondsLabel.hidden = els.type.value !== "profile"; });
  els.file.addEventListener("change", function () { if (els.file.files[0]) upload(els.file.files[0]); });
  els.sample.addEventListener("change", function () { index = Number(els.sample.value); redraw(); });
  els.search.addEventListener("input", onSearch);
  els.reset.addEventListener("click", function () { zoom = null; render(); });
  els.svg.addEventListener("click", function (e) {
    var n = frameOf(e.target);
    if (!n) return;
    zoom = n.depth === 0 ? null : n;
    els.tip.hidden = true;
    render();
  });
  els.svg.addEventListener("mousemove", tip);
  els.svg.addEventListener("mouseleave", function () { els.tip.hidden = true; });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && zoom) { zoom = null; render(); }
  });
  document.addEventListener("dragover", function (e) { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", function (e) { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
  document.addEventListener("drop", function (e) {
    e.preventDefault();
    document.body.classList.remove("dragging");
    var file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) upload(file);
  });
  var resizing = 0;
  window.addEventListener("resize", function () {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(render);
  });

  // A link such as ui/?type=profile&seconds=10 loads at once.
  var query = new URLSearchParams(location.search);
  var wanted = query.get("type");
  if (query.get("seconds")) els.seconds.value = query.get("seconds");
  if (wanted && Array.prototype.some.call(els.type.options, function (o) { return o.value === wanted; })) {
    els.type.value = wanted;
    loadType();
  }
  els.secondsLabel.hidden = els.type.value !== "profile";
})();
`;
