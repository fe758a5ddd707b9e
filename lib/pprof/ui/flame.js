/**
 * The flame graph in the browser, served as `ui/flame.js`. Plain browser
 * JavaScript, no build step: it asks `data?type=...` (or POSTs a dropped
 * file to `data`) for the flame tree that `tree.ts` computes, and draws it
 * as SVG. Profile text (function and file names) only ever reaches the DOM
 * through `textContent` and attributes.
 *
 * Over 450 lines on purpose: the page loads one script, with no bundler.
 */
"use strict";
(function () {
  const $ = function (id) {
    return document.getElementById(id);
  };
  const SVG = "http://www.w3.org/2000/svg";
  const ROW = 18;
  const els = {
    form: $("load-form"),
    type: $("type"),
    seconds: $("seconds"),
    secondsLabel: $("seconds-label"),
    file: $("file"),
    controls: $("controls"),
    sample: $("sample"),
    search: $("search"),
    matched: $("matched"),
    reset: $("reset"),
    status: $("status"),
    chart: $("chart"),
    svg: $("flame"),
    tip: $("tooltip"),
    topSection: $("top-section"),
    top: $("top").tBodies[0],
  };
  let data = null; // { type, sampleTypes, defaultIndex, root }
  let nodes = []; // every node, by id
  let index = 0; // the sample type drawn
  let zoom = null; // the node drawn full width
  let pattern = null; // the search, as a RegExp
  let busy = null; // the AbortController of a running load
  let what = "";

  function setStatus(text, error) {
    els.status.textContent = text;
    els.status.className = error ? "error" : "";
  }

  function unit() {
    return data.sampleTypes[index] ? data.sampleTypes[index].unit : "";
  }

  function fmt(v) {
    const u = unit();
    if (u === "nanoseconds") {
      if (v >= 1e9) return (v / 1e9).toFixed(2) + " s";
      if (v >= 1e6) return (v / 1e6).toFixed(1) + " ms";
      if (v >= 1e3) return (v / 1e3).toFixed(1) + " µs";
      return v + " ns";
    }
    if (u === "bytes") {
      const units = ["B", "KiB", "MiB", "GiB", "TiB"];
      let i = 0;
      while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
      }
      return (i ? v.toFixed(1) : String(v)) + " " + units[i];
    }
    return Math.round(v).toLocaleString("en-US") +
      (u && u !== "count" ? " " + u : "");
  }

  function pct(v, of) {
    return of > 0 ? (100 * v / of).toFixed(1) + "%" : "-";
  }

  // Parents, depths and ids, iteratively (stacks can be deep).
  function prepare(root) {
    nodes = [];
    const stack = [[root, null, 0]];
    while (stack.length) {
      const item = stack.pop();
      const n = item[0];
      n.id = nodes.length;
      n.parent = item[1];
      n.depth = item[2];
      nodes.push(n);
      for (let i = n.children.length - 1; i >= 0; i--) {
        stack.push([n.children[i], n, item[2] + 1]);
      }
    }
  }

  // Values and left edges for the chosen sample type; empty boxes dropped.
  function layout() {
    for (let i = 0; i < nodes.length; i++) {
      nodes[i].v = nodes[i].values[index] || 0;
    }
    const root = data.root;
    root.start = 0;
    for (let j = 0; j < nodes.length; j++) {
      const n = nodes[j];
      n.kids = n.children.filter(function (c) {
        return c.v > 0;
      })
        .sort(function (a, b) {
          return b.v - a.v || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
        });
      let at = n.start;
      for (let k = 0; k < n.kids.length; k++) {
        n.kids[k].start = at;
        at += n.kids[k].v;
      }
    }
  }

  function hash(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return h >>> 0;
  }

  function color(n) {
    if (n.depth === 0) return "#c6c6cc";
    const h = hash(n.name);
    if (n.name.charAt(0) === "(") {
      return "hsl(220, 10%, " + (68 + h % 10) + "%)";
    }
    const file = n.file || "";
    if (/^(ext:|node:|internal)/.test(file)) {
      return "hsl(" + (190 + h % 30) + ", 55%, " + (68 + h % 10) + "%)";
    }
    return "hsl(" + (h % 50) + ", " + (75 + h % 20) + "%, " +
      (58 + (h >> 8) % 12) + "%)";
  }

  function fit(text, width) {
    const chars = Math.floor(width / 6.8);
    if (chars >= text.length) return text;
    return chars < 3 ? "" : text.slice(0, chars - 1) + "…";
  }

  function isMatch(n) {
    return pattern !== null && n.depth > 0 && pattern.test(n.name);
  }

  function draw(parent, n, x, w) {
    const g = document.createElementNS(SVG, "g");
    let cls = "frame";
    if (zoom && n.depth < zoom.depth) cls += " ancestor";
    if (isMatch(n)) cls += " match";
    g.setAttribute("class", cls);
    g.setAttribute("data-id", String(n.id));
    g.setAttribute("data-name", n.name);
    g.setAttribute(
      "transform",
      "translate(" + x.toFixed(2) + "," + (n.depth * ROW) + ")",
    );
    const title = document.createElementNS(SVG, "title");
    title.textContent = n.name + " — " + fmt(n.v) + " (" +
      pct(n.v, data.root.v) + ")";
    g.appendChild(title);
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("width", Math.max(0.5, w - 0.5).toFixed(2));
    rect.setAttribute("height", String(ROW - 1));
    rect.setAttribute("fill", color(n));
    g.appendChild(rect);
    const label = w > 24 ? fit(n.name, w - 6) : "";
    if (label) {
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", "3");
      text.setAttribute("y", String(ROW - 5));
      text.textContent = label;
      g.appendChild(text);
    }
    parent.appendChild(g);
  }

  function render() {
    const svg = els.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!data) return;
    const width = Math.max(320, els.chart.clientWidth);
    const z = zoom || data.root;
    const frag = document.createDocumentFragment();
    let deepest = z.depth;
    for (let a = z.parent; a; a = a.parent) draw(frag, a, 0, width);
    if (z.v > 0) {
      const stack = [z];
      while (stack.length) {
        const n = stack.pop();
        const w = n.v / z.v * width;
        if (w < 0.5) continue; // too thin to see or click; so are its callees
        draw(frag, n, (n.start - z.start) / z.v * width, w);
        if (n.depth > deepest) deepest = n.depth;
        for (let i = 0; i < n.kids.length; i++) stack.push(n.kids[i]);
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
    if (!pattern) {
      els.matched.textContent = "";
      return;
    }
    // Matches below another match are already counted in it.
    let sum = 0;
    const stack = [data.root];
    while (stack.length) {
      const n = stack.pop();
      if (isMatch(n)) {
        sum += n.v;
        continue;
      }
      for (let i = 0; i < n.kids.length; i++) stack.push(n.kids[i]);
    }
    els.matched.textContent = "Matched: " + fmt(sum) + " (" +
      pct(sum, data.root.v) + ")";
  }

  // Self and total per function; a recursive function's total counts once per path.
  function renderTop() {
    const stats = new Map();
    const onPath = new Map();
    const stack = [[data.root, false]];
    while (stack.length) {
      const item = stack.pop();
      const n = item[0];
      if (n.depth === 0) {
        if (!item[1]) {
          stack.push([n, true]);
          for (let r = 0; r < n.kids.length; r++) {
            stack.push([n.kids[r], false]);
          }
        }
        continue;
      }
      const key = n.name + "\u0000" + (n.file || "");
      if (item[1]) {
        onPath.set(key, onPath.get(key) - 1);
        continue;
      }
      let s = stats.get(key);
      if (!s) {
        stats.set(
          key,
          s = { name: n.name, file: n.file || "", self: 0, total: 0 },
        );
      }
      let below = 0;
      for (let i = 0; i < n.kids.length; i++) below += n.kids[i].v;
      s.self += n.v - below;
      if (!onPath.get(key)) s.total += n.v;
      onPath.set(key, (onPath.get(key) || 0) + 1);
      stack.push([n, true]);
      for (let j = 0; j < n.kids.length; j++) stack.push([n.kids[j], false]);
    }
    const rows = Array.from(stats.values()).sort(function (a, b) {
      return b.self - a.self || b.total - a.total;
    }).slice(0, 30);
    const body = els.top;
    while (body.firstChild) body.removeChild(body.firstChild);
    const all = data.root.v;
    rows.forEach(function (s) {
      const tr = document.createElement("tr");
      [fmt(s.self), pct(s.self, all), fmt(s.total), pct(s.total, all)].forEach(
        function (t) {
          const td = document.createElement("td");
          td.textContent = t;
          tr.appendChild(td);
        },
      );
      const fn = document.createElement("td");
      fn.textContent = s.name;
      if (s.file) {
        const f = document.createElement("span");
        f.className = "file";
        f.textContent = s.file;
        fn.appendChild(f);
      }
      tr.appendChild(fn);
      tr.title = "Search for " + s.name;
      tr.addEventListener("click", function () {
        els.search.value = "^" + s.name.replace(/[.*+?^$(){}|[\]\\]/g, "\\$&") +
          "$";
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
    const sample = els.sample;
    while (sample.firstChild) sample.removeChild(sample.firstChild);
    data.sampleTypes.forEach(function (t, i) {
      const o = document.createElement("option");
      o.value = String(i);
      o.textContent = t.type + " (" + t.unit + ")";
      sample.appendChild(o);
    });
    index = Math.min(
      data.defaultIndex,
      Math.max(0, data.sampleTypes.length - 1),
    );
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
    const t = data.sampleTypes[index];
    setStatus(
      data.root.v > 0
        ? what + ": " + fmt(data.root.v) + " of " + (t ? t.type : "value") +
          " in " + (nodes.length - 1) + " frames"
        : what + ": no samples of " + (t ? t.type : "any value") +
          " (an empty profile)",
    );
  }

  async function show(response, label) {
    if (!response.ok) {
      const text = (await response.text()).trim();
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
    const type = els.type.value;
    const params = new URLSearchParams({ type: type });
    let label = type;
    if (type === "profile") {
      const seconds = Math.max(
        1,
        Math.min(3600, Math.round(Number(els.seconds.value) || 5)),
      );
      params.set("seconds", String(seconds));
      label = "CPU profile of " + seconds + " s";
    }
    history.replaceState(null, "", "?" + params.toString());
    const signal = start(
      type === "profile"
        ? "Profiling for " + params.get("seconds") + " s…"
        : "Loading " + type + "…",
    );
    try {
      await show(
        await fetch("data?" + params.toString(), { signal: signal }),
        label,
      );
    } catch (error) {
      failed(error);
    }
  }

  async function upload(file) {
    const signal = start("Reading " + file.name + "…");
    try {
      await show(
        await fetch("data", {
          method: "POST",
          body: file,
          signal: signal,
          headers: { "Content-Type": "application/octet-stream" },
        }),
        file.name,
      );
    } catch (error) {
      failed(error);
    }
  }

  function onSearch() {
    const text = els.search.value;
    if (!text) pattern = null;
    else {
      try {
        pattern = new RegExp(text, "i");
      } catch (_) {
        pattern = new RegExp(text.replace(/[.*+?^$(){}|[\]\\]/g, "\\$&"), "i");
      }
    }
    if (data) render();
  }

  function frameOf(target) {
    const g = target && target.closest ? target.closest("g.frame") : null;
    return g ? nodes[Number(g.getAttribute("data-id"))] : null;
  }

  function tip(event) {
    const n = frameOf(event.target);
    if (!n) {
      els.tip.hidden = true;
      return;
    }
    let below = 0;
    for (let i = 0; i < n.kids.length; i++) below += n.kids[i].v;
    const z = zoom || data.root;
    const t = els.tip;
    while (t.firstChild) t.removeChild(t.firstChild);
    const lines = [
      ["name", n.name],
      ["file", n.file || ""],
      [
        "",
        "Total: " + fmt(n.v) + " (" + pct(n.v, data.root.v) + " of all" +
        (zoom ? ", " + pct(n.v, z.v) + " of zoom" : "") + ")",
      ],
      [
        "",
        "Self: " + fmt(n.v - below) + " (" + pct(n.v - below, data.root.v) +
        ")",
      ],
    ];
    lines.forEach(function (l) {
      if (!l[1]) return;
      const d = document.createElement("div");
      d.className = l[0];
      d.textContent = l[1];
      t.appendChild(d);
    });
    t.hidden = false;
    let x = event.clientX + 14;
    let y = event.clientY + 14;
    const r = t.getBoundingClientRect();
    if (x + r.width > globalThis.innerWidth - 4) {
      x = Math.max(4, event.clientX - r.width - 14);
    }
    if (y + r.height > globalThis.innerHeight - 4) {
      y = Math.max(4, event.clientY - r.height - 14);
    }
    t.style.left = x + "px";
    t.style.top = y + "px";
  }

  els.form.addEventListener("submit", function (e) {
    e.preventDefault();
    loadType();
  });
  els.type.addEventListener("change", function () {
    els.secondsLabel.hidden = els.type.value !== "profile";
  });
  els.file.addEventListener("change", function () {
    if (els.file.files[0]) upload(els.file.files[0]);
  });
  els.sample.addEventListener("change", function () {
    index = Number(els.sample.value);
    redraw();
  });
  els.search.addEventListener("input", onSearch);
  els.reset.addEventListener("click", function () {
    zoom = null;
    render();
  });
  els.svg.addEventListener("click", function (e) {
    const n = frameOf(e.target);
    if (!n) return;
    zoom = n.depth === 0 ? null : n;
    els.tip.hidden = true;
    render();
  });
  els.svg.addEventListener("mousemove", tip);
  els.svg.addEventListener("mouseleave", function () {
    els.tip.hidden = true;
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && zoom) {
      zoom = null;
      render();
    }
  });
  document.addEventListener("dragover", function (e) {
    e.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", function (e) {
    if (!e.relatedTarget) document.body.classList.remove("dragging");
  });
  document.addEventListener("drop", function (e) {
    e.preventDefault();
    document.body.classList.remove("dragging");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) upload(file);
  });
  let resizing = 0;
  globalThis.addEventListener("resize", function () {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(render);
  });

  // A link such as ui/?type=profile&seconds=10 loads at once.
  const query = new URLSearchParams(location.search);
  const wanted = query.get("type");
  if (query.get("seconds")) els.seconds.value = query.get("seconds");
  if (
    wanted && Array.prototype.some.call(els.type.options, function (o) {
      return o.value === wanted;
    })
  ) {
    els.type.value = wanted;
    loadType();
  }
  els.secondsLabel.hidden = els.type.value !== "profile";
})();
