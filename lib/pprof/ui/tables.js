/**
 * The viewer's tables: the top functions (flat and cumulative, sortable by
 * any column, filtered by the search) and a source file with each line's
 * cost beside it. Against a base both show the change.
 */

import {
  clear,
  el,
  formatDelta,
  formatValue,
  pct,
  shortFile,
} from "./format.js";

/** Rows drawn at most; the filter finds the rest. */
const MAX_ROWS = 1000;

const COLUMNS = {
  flat: { title: "Flat", get: (r) => r.flat },
  cum: { title: "Cum", get: (r) => r.cum },
  dflat: { title: "Δ flat", get: (r) => r.flat - r.baseFlat },
  dcum: { title: "Δ cum", get: (r) => r.cum - r.baseCum },
  base: { title: "Base cum", get: (r) => r.baseCum },
  name: { title: "Function", get: (r) => r.name },
};

/**
 * The top table of `data` (`top.json`) in `table`, sorted by `state.sort`
 * and filtered by `state.pattern`; `link(file, line, name)` is where a
 * location leads; `sortBy(key)` is called when a heading is clicked.
 */
export function renderTop(table, data, state, link, sortBy) {
  const diff = Boolean(data.base);
  const unit = data.sampleTypes[data.index].unit;
  const all = data.total;
  const keys = diff
    ? ["dflat", "dcum", "base", "cum", "name"]
    : ["flat", "cum", "name"];
  const sort = keys.includes(state.sort) ? state.sort : keys[0];
  const head = table.tHead || table.createTHead();
  clear(head);
  const tr = head.insertRow();
  for (const key of keys) {
    const th = el("th", COLUMNS[key].title + (key === sort ? " ▾" : ""), {
      "data-sort": key,
      title: "Sort by " + COLUMNS[key].title,
    });
    th.addEventListener("click", () => sortBy(key));
    tr.appendChild(th);
    if (!diff && key !== "name") tr.appendChild(el("th", "%"));
  }
  tr.appendChild(el("th", "Location"));

  const get = COLUMNS[sort].get;
  const rows = data.rows.filter((r) =>
    !state.pattern || state.pattern.test(r.name) || state.pattern.test(r.file)
  ).filter((r) => !diff || r.cum !== r.baseCum || r.flat !== r.baseFlat);
  rows.sort(
    sort === "name"
      ? (a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0
      : (a, b) => get(b) - get(a) || b.cum - a.cum,
  );
  const body = table.tBodies[0] || table.createTBody();
  clear(body);
  for (const r of rows.slice(0, MAX_ROWS)) {
    const row = body.insertRow();
    row.setAttribute("data-name", r.name);
    for (const key of keys) {
      if (key === "name") {
        row.appendChild(el("td", r.name, { class: "name" }));
        continue;
      }
      const v = COLUMNS[key].get(r);
      const delta = key === "dflat" || key === "dcum";
      const cell = el(
        "td",
        delta
          ? formatDelta(v, unit)
          : key === "base" && v === 0 && diff
          ? "new"
          : formatValue(v, unit),
        {
          class: "num" +
            (delta ? (v > 0 ? " grew" : v < 0 ? " shrank" : "") : ""),
        },
      );
      row.appendChild(cell);
      if (!diff) row.appendChild(el("td", pct(v, all), { class: "num" }));
    }
    const where = el("td", null, { class: "where" });
    if (r.file) {
      const a = el(
        "a",
        shortFile(r.file, 3) + (r.line ? ":" + r.line : ""),
        { href: link(r.file, r.line, r.name), title: shortFile(r.file) },
      );
      where.appendChild(a);
    }
    row.appendChild(where);
  }
  return rows.length > MAX_ROWS
    ? "Showing " + MAX_ROWS + " of " + rows.length +
      " functions; search to find the others."
    : rows.length + " functions" + (diff ? " changed" : "");
}

/**
 * A source file (`source.json`) with each line's cost: every line when its
 * text is known, else only the lines with a cost. Lines of function `fn`
 * are marked; the page scrolls to `line`, or to the hottest line.
 */
export function renderSource(table, data, state) {
  const diff = Boolean(data.base);
  const unit = data.sampleTypes[data.index].unit;
  const costs = new Map(data.lines.map((l) => [l.line, l]));
  let hottest = null;
  for (const l of data.lines) {
    if (l.flat > 0 && (!hottest || l.flat > hottest.flat)) hottest = l;
  }
  if (!hottest) {
    for (const l of data.lines) {
      if (!hottest || l.cum > hottest.cum) hottest = l;
    }
  }
  const max = hottest ? Math.max(hottest.flat, hottest.cum) : 0;
  const head = table.tHead || table.createTHead();
  clear(head);
  const tr = head.insertRow();
  for (
    const t of diff
      ? ["Line", "Δ flat", "Δ cum", "Now cum", "Code"]
      : ["Line", "Flat", "Cum", "Code"]
  ) tr.appendChild(el("th", t));
  const body = table.tBodies[0] || table.createTBody();
  clear(body);
  const numbers = data.text
    ? data.text.map((_, i) => i + 1)
    : data.lines.map((l) => l.line).sort((a, b) => a - b);
  let target = null;
  for (const n of numbers) {
    const c = costs.get(n);
    const row = body.insertRow();
    row.setAttribute("data-line", String(n));
    row.id = "L" + n;
    let cls = "";
    if (c) {
      cls += " costly";
      if (c === hottest) cls += " hottest";
      if (state.fn && c.name === state.fn) cls += " in-fn";
      const heat = max > 0 ? Math.max(c.flat, diff ? 0 : c.cum / 4) / max : 0;
      row.style.setProperty("--heat", heat.toFixed(3));
      row.title = c.name;
    }
    row.className = cls.trim();
    row.appendChild(el("td", n, { class: "num lineno" }));
    const cells = !c ? (diff ? ["", "", ""] : ["", ""]) : diff
      ? [
        formatDelta(c.flat - c.baseFlat, unit),
        formatDelta(c.cum - c.baseCum, unit),
        formatValue(c.cum, unit),
      ]
      : [formatValue(c.flat, unit), formatValue(c.cum, unit)];
    for (const text of cells) {
      row.appendChild(el("td", c && text !== "" ? text : "", { class: "num" }));
    }
    const code = el("td", null, { class: "code" });
    code.appendChild(el("pre", data.text ? data.text[n - 1] : ""));
    row.appendChild(code);
    if (n === state.line || (!state.line && c === hottest)) target = row;
  }
  // Scrolls the file's box, not the page: the controls stay in view.
  const box = table.parentElement;
  if (target && box) {
    box.scrollTop = Math.max(0, target.offsetTop - box.clientHeight / 2);
  }
  return hottest;
}

/** The file picker of the source view: files with a cost, hottest first. */
export function fillFiles(select, data) {
  clear(select);
  const unit = data.sampleTypes[data.index].unit;
  for (const f of data.files) {
    const o = el(
      "option",
      shortFile(f.file) + " — " + formatValue(f.flat, unit) + " flat",
      { value: f.file },
    );
    select.appendChild(o);
  }
  select.value = data.file;
}
