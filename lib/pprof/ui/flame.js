/**
 * The flame graph, drawn as SVG from the flat preorder tree the server
 * sends (`flame.json`: `func`, `depth`, `value`, and against a base `base`).
 * Callers above, callees below; a box's width is its share; click to zoom,
 * hover for values, search highlights. Against a base each box is as wide
 * as both profiles together and coloured by its change: red grew, blue
 * shrank, grey the same (Pyroscope's and `-diff_base`'s reading).
 *
 * Boxes under one pixel are not drawn (nor their callees): that bounds the
 * SVG by the screen, not by the profile, so a 50 000-node profile draws as
 * fast as a small one (bench U1).
 */

import { clear, formatDelta, formatValue, pct } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const ROW = 18;
const MIN_PX = 1;

export class FlameGraph {
  /**
   * @param {SVGSVGElement} svg
   * @param {HTMLElement} tip the tooltip element
   * @param {{ zoomed(index: number): void, matched(text: string): void }} on
   */
  constructor(svg, tip, on) {
    this.svg = svg;
    this.tip = tip;
    this.on = on;
    this.tree = null;
    this.zoom = 0;
    this.pattern = null;
    svg.addEventListener("click", (e) => {
      const i = this.frameAt(e.target);
      if (i < 0) return;
      this.tip.hidden = true;
      this.zoomTo(this.zoom === i ? this.parent[i] : i);
      this.on.zoomed(this.zoom);
    });
    svg.addEventListener("mousemove", (e) => this.hover(e));
    svg.addEventListener("mouseleave", () => {
      this.tip.hidden = true;
    });
  }

  /** Takes a tree and its unit; computes parents, spans and left edges. */
  setTree(tree, unit) {
    this.tree = tree;
    this.unit = unit;
    const n = tree.func.length;
    const diff = Array.isArray(tree.base);
    const size = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      size[i] = Math.abs(tree.value[i]) + (diff ? Math.abs(tree.base[i]) : 0);
    }
    const parent = new Int32Array(n);
    const end = new Int32Array(n);
    const start = new Float64Array(n);
    const next = new Float64Array(n); // where a node's next child starts
    const self = Float64Array.from(tree.value);
    const path = [];
    for (let i = 0; i < n; i++) {
      const d = tree.depth[i];
      while (path.length > d) end[path.pop()] = i;
      const p = d === 0 ? -1 : path[d - 1];
      parent[i] = p;
      if (p >= 0) {
        start[i] = next[p];
        next[p] += size[i];
        self[p] -= tree.value[i];
      }
      next[i] = start[i];
      path.push(i);
    }
    while (path.length) end[path.pop()] = n;
    Object.assign(this, { size, parent, end, start, self, diff });
    this.zoom = 0;
  }

  /** Zooms to node `index` (0, the root, for the whole). */
  zoomTo(index) {
    this.zoom = index > 0 && index < this.size.length && this.size[index] > 0
      ? index
      : 0;
    this.render();
  }

  setSearch(pattern) {
    this.pattern = pattern;
    if (this.tree) this.render();
  }

  nameOf(i) {
    const f = this.tree.func[i];
    return f < 0 ? "root" : this.tree.funcs[f][0];
  }

  fileOf(i) {
    const f = this.tree.func[i];
    return f < 0 ? "" : this.tree.funcs[f][1];
  }

  isMatch(i) {
    return this.pattern !== null && i > 0 && this.pattern.test(this.nameOf(i));
  }

  color(i) {
    const name = this.nameOf(i);
    if (i === 0) return "#c6c6cc";
    if (this.diff) {
      const now = this.tree.value[i];
      const before = this.tree.base[i];
      const change = (now - before) / Math.max(Math.abs(now), Math.abs(before));
      if (!(Math.abs(change) > 0.01)) return "hsl(0, 0%, 82%)";
      const strength = Math.min(1, Math.abs(change));
      return change > 0
        ? "hsl(0, " + (40 + 50 * strength) + "%, " + (82 - 30 * strength) + "%)"
        : "hsl(215, " + (40 + 50 * strength) + "%, " + (82 - 30 * strength) +
          "%)";
    }
    const h = hash(name);
    if (name.charAt(0) === "(" || name.charAt(0) === "[") {
      return "hsl(220, 10%, " + (68 + h % 10) + "%)";
    }
    if (/^(ext:|node:|internal)/.test(this.fileOf(i))) {
      return "hsl(" + (190 + h % 30) + ", 55%, " + (68 + h % 10) + "%)";
    }
    return "hsl(" + (h % 50) + ", " + (75 + h % 20) + "%, " +
      (58 + (h >> 8) % 12) + "%)";
  }

  render() {
    const svg = this.svg;
    clear(svg);
    if (!this.tree) return;
    const width = Math.max(320, svg.parentElement.clientWidth);
    const z = this.zoom;
    const depth = this.tree.depth;
    const frag = document.createDocumentFragment();
    let deepest = depth[z];
    let drawn = 0;
    for (let a = this.parent[z]; a >= 0; a = this.parent[a]) {
      this.draw(frag, a, 0, width, "ancestor");
      drawn++;
    }
    const scale = this.size[z] > 0 ? width / this.size[z] : 0;
    const left = this.start[z];
    for (let i = z; i < this.end[z];) {
      const w = this.size[i] * scale;
      if (w < MIN_PX) {
        i = this.end[i]; // too thin to see or click; so are its callees
        continue;
      }
      this.draw(frag, i, (this.start[i] - left) * scale, w, "");
      drawn++;
      if (depth[i] > deepest) deepest = depth[i];
      i++;
    }
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String((deepest + 1) * ROW + 1));
    svg.setAttribute("data-zoom", this.nameOf(z));
    svg.setAttribute("data-frames", String(drawn));
    svg.setAttribute("class", this.pattern ? "searching" : "");
    svg.appendChild(frag);
    this.showMatched();
  }

  draw(parent, i, x, w, extra) {
    const g = document.createElementNS(SVG, "g");
    let cls = "frame" + (extra ? " " + extra : "");
    if (this.isMatch(i)) cls += " match";
    if (this.diff && i > 0) {
      const change = this.tree.value[i] - this.tree.base[i];
      if (change !== 0) cls += change > 0 ? " grew" : " shrank";
      g.setAttribute("data-delta", String(change));
    }
    g.setAttribute("class", cls);
    g.setAttribute("data-id", String(i));
    g.setAttribute("data-name", this.nameOf(i));
    g.setAttribute(
      "transform",
      "translate(" + x.toFixed(2) + "," + (this.tree.depth[i] * ROW) + ")",
    );
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("width", Math.max(0.5, w - 0.5).toFixed(2));
    rect.setAttribute("height", String(ROW - 1));
    rect.setAttribute("fill", this.color(i));
    g.appendChild(rect);
    if (w > 24) {
      const chars = Math.floor((w - 6) / 6.8);
      const name = this.nameOf(i);
      const label = chars >= name.length
        ? name
        : chars < 3
        ? ""
        : name.slice(0, chars - 1) + "…";
      if (label) {
        const text = document.createElementNS(SVG, "text");
        text.setAttribute("x", "3");
        text.setAttribute("y", String(ROW - 5));
        text.textContent = label;
        g.appendChild(text);
      }
    }
    parent.appendChild(g);
  }

  /** "Matched: …" of the search; matches inside another match count once. */
  showMatched() {
    if (!this.pattern) {
      this.on.matched("");
      return;
    }
    let sum = 0;
    const n = this.size.length;
    for (let i = 1; i < n;) {
      if (this.isMatch(i)) {
        sum += this.tree.value[i];
        i = this.end[i];
      } else i++;
    }
    this.on.matched(
      "Matched: " + formatValue(sum, this.unit) + " (" +
        pct(sum, this.tree.value[0]) + ")",
    );
  }

  frameAt(target) {
    const g = target && target.closest ? target.closest("g.frame") : null;
    return g ? Number(g.getAttribute("data-id")) : -1;
  }

  /** What a frame is: its name, file and values, as lines of text. */
  describe(i) {
    const t = this.tree;
    const all = t.value[0];
    const lines = [this.nameOf(i)];
    if (this.fileOf(i)) lines.push(this.fileOf(i));
    const fmt = (v) => formatValue(v, this.unit);
    if (this.diff) {
      lines.push(
        "Now: " + fmt(t.value[i]) + " · Base: " + fmt(t.base[i]) +
          " · Change: " + formatDelta(t.value[i] - t.base[i], this.unit),
      );
    } else {
      lines.push(
        "Total: " + fmt(t.value[i]) + " (" + pct(t.value[i], all) + " of all" +
          (this.zoom
            ? ", " + pct(t.value[i], t.value[this.zoom]) + " of zoom"
            : "") +
          ")",
      );
    }
    lines.push(
      "Self: " + fmt(this.self[i]) + " (" + pct(this.self[i], all) + ")",
    );
    return lines;
  }

  hover(event) {
    const i = this.frameAt(event.target);
    const tip = this.tip;
    if (i < 0) {
      tip.hidden = true;
      return;
    }
    clear(tip);
    for (const [n, line] of this.describe(i).entries()) {
      const d = document.createElement("div");
      d.className = n === 0 ? "name" : n === 1 && this.fileOf(i) ? "file" : "";
      d.textContent = line;
      tip.appendChild(d);
    }
    tip.hidden = false;
    let x = event.clientX + 14;
    let y = event.clientY + 14;
    const r = tip.getBoundingClientRect();
    if (x + r.width > globalThis.innerWidth - 4) {
      x = Math.max(4, event.clientX - r.width - 14);
    }
    if (y + r.height > globalThis.innerHeight - 4) {
      y = Math.max(4, event.clientY - r.height - 14);
    }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
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
