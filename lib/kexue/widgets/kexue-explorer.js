/* The one renderer of kexue's explorers (kexue.widgets.Explorer): draws a frame as SVG.
 *
 * Used two ways, from this one file:
 * - as an ES module by anywidget in JupyterLab (Explorer.widget(): `export default { render }`):
 *   the model carries `spec` (the controls), `index` (the control positions), `seq` (the number
 *   of the last request from this view) and, from the kernel, `frame`, `frame_seq` (the request
 *   it answers), `frame_index` (the positions it is the frame of), `rev` (bumped on every new
 *   frame) and `error`. A dragged slider sends its position on every `input` event, but at most
 *   one request is in flight: positions that arrive meanwhile are coalesced into the next request,
 *   and a frame older than the one drawn is dropped. Frames the kernel computed ahead (custom
 *   messages, after the view's {kx: "view"}) are drawn at once on the input event (see render()).
 * - in the HTML book as a classic script (the Sphinx extension copies this file to
 *   _static/kexue-explorer.js with the `export` line replaced by a call of bootPage(), so that it
 *   also runs from file://): every <div class="kx-explorer"> holds the JSON of every frame over
 *   the grid of its controls; the PNG of the default state shown before it is hidden once drawn.
 *
 * Every frame is checked against SCHEMA (a copy of kexue.widgets.frames.SCHEMA; a test keeps the
 * two equal): an unknown key or a value of the wrong type is shown as an error in the figure,
 * never ignored. No network, no dependencies.
 */
"use strict";
var SVGNS = "http://www.w3.org/2000/svg";
/* kx-schema-begin */
var SCHEMA = {"enums":{"aspect":["auto","equal"],"cmap":["viridis","gray","gray_r"],"kind":["bar","line","scatter"],"scale":["linear","log"]},"frame":{"keys":{"panels":"panel[]","text":"string"},"required":["panels","text"]},"heatmap":{"keys":{"aspect":"aspect","cmap":"cmap","label":"string","vmax":"number","vmin":"number","x":"number[]","y":"number[]","z":"number[][]"},"required":["z","x","y"]},"hline":{"keys":{"color":"color","dash":"boolean","label":"string","y":"number"},"required":["y"]},"panel":{"keys":{"heatmap":"heatmap","hlines":"hline[]","legend":"boolean","series":"series[]","title":"string","vlines":"vline[]","xlabel":"string","xlim":"number[]","xscale":"scale","xticks":"ticks","ylabel":"string","ylim":"number[]","yscale":"scale"},"required":["title","xlabel","ylabel","series"]},"series":{"keys":{"color":"color","dash":"boolean","fill":"boolean","kind":"kind","label":"string","width":"number","x":"number[]","y":"number[]"},"required":["kind","x","y"]},"vline":{"keys":{"color":"color","dash":"boolean","label":"string","x":"number"},"required":["x"]}};
/* kx-schema-end */
var VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
  "#35b779", "#6ece58", "#b5de2b", "#fde725"];
var PALETTE0 = "#0072B2";
var CSS = [
  ".kx-explorer { margin: 0.5em 0 1em; }",
  ".kx-explorer .kx-controls { display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; margin-bottom: 0.4em; font-size: 0.9em; align-items: center; }",
  ".kx-explorer .kx-control { display: inline-flex; align-items: center; gap: 0.35em; white-space: nowrap; }",
  ".kx-explorer .kx-control input[type=range] { width: 10em; margin: 0; flex: none; }",
  ".kx-explorer .kx-control output { display: inline-block; font-variant-numeric: tabular-nums; font-family: var(--pst-font-family-monospace, monospace); font-size: 0.95em; text-align: left; }",
  ".kx-explorer .kx-figure { display: grid; gap: 0.4em; align-items: start; }",
  ".kx-explorer .kx-figure svg { display: block; width: 100%; height: auto; border-radius: 4px; }",
  ".kx-explorer .kx-readout { font-family: var(--pst-font-family-monospace, monospace); font-size: 0.85em; margin-top: 0.3em; min-height: 1.3em; }",
  ".kx-explorer .kx-error { color: #b00020; background: #fff0f0; border: 1px solid #b00020; padding: 0.4em 0.6em; font-family: monospace; font-size: 0.85em; white-space: pre-wrap; }"
].join("\n");

function injectCss() {
  if (typeof document === "undefined" || document.getElementById("kx-explorer-css")) return;
  var st = document.createElement("style");
  st.id = "kx-explorer-css";
  st.textContent = CSS;
  (document.head || document.documentElement).appendChild(st);
}

/* ---- the schema, checked on every frame ------------------------------------------------ */
function checkValue(v, typ, path) {
  if (typ.slice(-2) === "[]") {
    if (!Array.isArray(v)) throw new Error(path + " must be a list (" + typ + ")");
    for (var i = 0; i < v.length; i++) checkValue(v[i], typ.slice(0, -2), path + "[" + i + "]");
  } else if (typ === "string" || typ === "color") {
    if (typeof v !== "string") throw new Error(path + " must be a string");
  } else if (typ === "boolean") {
    if (typeof v !== "boolean") throw new Error(path + " must be true or false");
  } else if (typ === "number") {
    if (typeof v !== "number" || !isFinite(v)) throw new Error(path + " must be a finite number");
  } else if (typ === "ticks") {
    if (!Array.isArray(v) || v.length !== 2) throw new Error(path + " must be [positions, labels]");
    checkValue(v[0], "number[]", path + "[0]"); checkValue(v[1], "string[]", path + "[1]");
  } else if (SCHEMA.enums[typ]) {
    if (SCHEMA.enums[typ].indexOf(v) < 0) throw new Error(path + " must be one of " + SCHEMA.enums[typ].join(", ") + ", got " + JSON.stringify(v));
  } else {
    checkObject(v, typ, path);
  }
}
function checkObject(d, typ, path) {
  var spec = SCHEMA[typ];
  if (!spec) throw new Error("renderer: unknown schema type " + typ);
  if (!d || typeof d !== "object" || Array.isArray(d)) throw new Error(path + " must be a " + typ);
  Object.keys(d).forEach(function (k) {
    if (!Object.prototype.hasOwnProperty.call(spec.keys, k)) throw new Error(path + ": unknown key '" + k + "' in a " + typ);
  });
  spec.required.forEach(function (k) { if (!(k in d)) throw new Error(path + ": the " + typ + " lacks the key '" + k + "'"); });
  Object.keys(d).forEach(function (k) { checkValue(d[k], spec.keys[k], path + "." + k); });
}
function checkFrame(fr) {
  checkObject(fr, "frame", "frame");
  if (!fr.panels.length) throw new Error("frame.panels is empty");
  fr.panels.forEach(function (p, i) {
    p.series.forEach(function (s, j) {
      if (s.x.length !== s.y.length) throw new Error("frame.panels[" + i + "].series[" + j + "]: x and y differ in length");
    });
    var h = p.heatmap;
    if (h && (!h.z.length || h.x.length !== h.z[0].length + 1 || h.y.length !== h.z.length + 1)) {
      throw new Error("frame.panels[" + i + "].heatmap: edges do not match z");
    }
  });
  return fr;
}

/* ---- SVG helpers --------------------------------------------------------------------- */
function el(tag, attrs, parent) {
  var e = document.createElementNS(SVGNS, tag);
  for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]); }
  if (parent) parent.appendChild(e);
  return e;
}
function text(parent, x, y, s, opts) {
  var t = el("text", Object.assign({ x: x, y: y, "font-size": 11, fill: "#222" }, opts || {}), parent);
  t.textContent = s;
  return t;
}
function fmt(v) {
  if (v === 0) return "0";                  // also -0
  var a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  var s = String(+v.toPrecision(3));
  return s === "-0" ? "0" : s;
}
function niceTicks(lo, hi, n) {
  if (!isFinite(lo) || !isFinite(hi)) return [];
  if (!(hi > lo)) { hi = lo + 1; }
  var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  var err = (hi - lo) / n / step;
  if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
  var out = [];
  // at most 200 ticks: a step below the numbers' resolution would never reach hi
  for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step && out.length < 200; v += step) out.push(+v.toPrecision(12) || 0);
  return out;
}
function logTicks(lo, hi) {
  var out = [];
  if (!(lo > 0) || !(hi > lo) || !isFinite(hi)) return out;     // log10(0) = -Infinity: no loop
  for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    var v = Math.pow(10, e);
    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
  }
  return out;
}
function extent(panel, axis) {
  var lim = panel[axis + "lim"];
  if (lim) return lim.slice();
  var vals = [], log = panel[axis + "scale"] === "log";
  (panel.series || []).forEach(function (s) {
    s[axis].forEach(function (v) { if (isFinite(v) && (!log || v > 0)) vals.push(v); });
    if (s.kind === "bar" && axis === "y" && !log) vals.push(0);
    if (s.kind === "bar" && axis === "x" && s.x.length) {
      var w = (s.width || 0.8) / 2;
      vals.push(Math.min.apply(null, s.x) - w, Math.max.apply(null, s.x) + w);
    }
  });
  if (panel.heatmap) { var h = panel.heatmap; vals = vals.concat(axis === "x" ? h.x : h.y); }
  (panel[axis === "x" ? "vlines" : "hlines"] || []).forEach(function (r) { vals.push(r[axis]); });
  if (!vals.length) return [0, 1];
  var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
  if (log) {                          // a margin of ~4% of the decades (bars stay visible)
    if (!(hi > lo)) { lo /= 3; hi *= 3; }
    var m = Math.pow(hi / lo, 0.05);
    return [lo / m, hi * m];
  }
  if (panel.heatmap) return [lo, hi > lo ? hi : lo + 1];
  var pad = (hi - lo) * 0.04 || 0.5;
  return [lo - pad, hi + pad];
}
function scale(lim, log, a, b) {
  if (log) {
    var l0 = Math.log10(lim[0]), l1 = Math.log10(lim[1]);
    return function (v) { return a + (Math.log10(v) - l0) / (l1 - l0 || 1) * (b - a); };
  }
  return function (v) { return a + (v - lim[0]) / (lim[1] - lim[0] || 1) * (b - a); };
}
// the frames' colour maps: viridis (default), gray (low dark), gray_r (high dark: ink on paper)
function colour(cmap, t) {
  t = Math.max(0, Math.min(1, t));
  if (cmap === "gray" || cmap === "gray_r") {
    var v = Math.round(255 * (cmap === "gray" ? t : 1 - t));
    return "rgb(" + v + "," + v + "," + v + ")";
  }
  return VIRIDIS[Math.min(VIRIDIS.length - 1, Math.floor(t * VIRIDIS.length))];
}
function textWidth(s, size) { return 0.58 * size * String(s).length; }

/* ---- one panel ------------------------------------------------------------------------ */
function drawPanel(p, W, H) {
  var hm = p.heatmap;
  var M = { l: 58, r: hm ? 84 : 14, t: 28, b: 44 };
  var xl = extent(p, "x"), yl = extent(p, "y");
  var xlog = p.xscale === "log", ylog = p.yscale === "log";
  var ax = { x0: M.l, x1: W - M.r, y0: M.t, y1: H - M.b };        // the plotting area
  if (hm && hm.aspect === "equal" && !xlog && !ylog) {            // square pixels for images
    var dx = xl[1] - xl[0], dy = yl[1] - yl[0];
    var k = Math.min((ax.x1 - ax.x0) / dx, (ax.y1 - ax.y0) / dy);
    var cx = (ax.x0 + ax.x1) / 2, cy = (ax.y0 + ax.y1) / 2;
    ax = { x0: cx - k * dx / 2, x1: cx + k * dx / 2, y0: cy - k * dy / 2, y1: cy + k * dy / 2 };
  }
  var X = scale(xl, xlog, ax.x0, ax.x1), Y = scale(yl, ylog, ax.y1, ax.y0);
  // legend entries, then where the legend goes (a free corner, else below the axes)
  var legend = [];
  (p.series || []).forEach(function (s) {
    if (s.label) legend.push({ label: s.label, color: s.color || PALETTE0, dash: s.dash ? "5,3" : null, kind: s.kind, fill: s.fill });
  });
  (p.vlines || []).concat(p.hlines || []).forEach(function (v) {
    if (v.label) legend.push({ label: v.label, color: v.color || "#555", dash: v.dash === false ? null : "5,3", kind: "line" });
  });
  var showLegend = p.legend !== false && legend.length > 0;
  var lw = 0, lh = 0, place = null;
  if (showLegend) {
    legend.forEach(function (it) { lw = Math.max(lw, 24 + textWidth(it.label, 10)); });
    lw = Math.min(lw + 6, W - 20); lh = legend.length * 15 + 6;
    place = freeCorner(p, X, Y, ax, lw, lh, xlog, ylog, yl);
  }
  var extra = 0;
  if (showLegend && !place) {            // below the x label, in rows across the width
    var rows = [[]], rowW = 0;
    legend.forEach(function (it) {
      var w = 28 + textWidth(it.label, 10);
      if (rowW + w > W - 20 && rows[rows.length - 1].length) { rows.push([]); rowW = 0; }
      it.dx = rowW; rowW += w; rows[rows.length - 1].push(it);
    });
    extra = rows.length * 15 + 4;
    legend.rows = rows;
  }
  var Ht = H + extra;
  var svg = el("svg", { viewBox: "0 0 " + W + " " + Ht, width: W, height: Ht, role: "img",
    "class": "kx-panel", "aria-label": p.title });
  el("rect", { x: 0, y: 0, width: W, height: Ht, fill: "#ffffff" }, svg);
  var clipId = "kxclip" + Math.random().toString(36).slice(2);
  var defs = el("defs", {}, svg), cp = el("clipPath", { id: clipId }, defs);
  el("rect", { x: ax.x0, y: ax.y0, width: ax.x1 - ax.x0, height: ax.y1 - ax.y0 }, cp);
  // grid and ticks
  var xt = p.xticks ? p.xticks[0] : (xlog ? logTicks(xl[0], xl[1]) : niceTicks(xl[0], xl[1], Math.max(2, Math.round((ax.x1 - ax.x0) / 70))));
  var xlab = p.xticks ? p.xticks[1] : xt.map(fmt);
  var yt = ylog ? logTicks(yl[0], yl[1]) : niceTicks(yl[0], yl[1], Math.max(2, Math.round((ax.y1 - ax.y0) / 50)));
  xt.forEach(function (v, i) {
    var x = X(v);
    if (!(x >= ax.x0 - 0.5 && x <= ax.x1 + 0.5)) return;
    if (!hm) el("line", { x1: x, x2: x, y1: ax.y0, y2: ax.y1, stroke: "#e3e3e3" }, svg);
    el("line", { x1: x, x2: x, y1: ax.y1, y2: ax.y1 + 4, stroke: "#333" }, svg);
    text(svg, x, ax.y1 + 15, xlab[i], { "text-anchor": "middle", "font-size": 10 });
  });
  yt.forEach(function (v) {
    var y = Y(v);
    if (!(y >= ax.y0 - 0.5 && y <= ax.y1 + 0.5)) return;
    if (!hm) el("line", { x1: ax.x0, x2: ax.x1, y1: y, y2: y, stroke: "#e3e3e3" }, svg);
    el("line", { x1: ax.x0 - 4, x2: ax.x0, y1: y, y2: y, stroke: "#333" }, svg);
    text(svg, ax.x0 - 6, y + 3, fmt(v), { "text-anchor": "end", "font-size": 10 });
  });
  var g = el("g", { "clip-path": "url(#" + clipId + ")" }, svg);
  if (hm) drawHeatmap(svg, g, hm, X, Y, ax, W);
  (p.series || []).forEach(function (s) {
    var color = s.color || PALETTE0, dash = s.dash ? "5,3" : null;
    if (s.kind === "bar") {
      var w = (s.width || 0.8), y0 = Y(ylog ? yl[0] : Math.max(yl[0], 0));
      s.x.forEach(function (xv, i) {
        var a = X(xv - w / 2), b = X(xv + w / 2), yv = Y(s.y[i]);
        el("rect", { "class": "kx-bar", x: a, y: Math.min(yv, y0), width: Math.max(b - a, 0.5), height: Math.abs(y0 - yv),
          fill: s.fill === false ? "none" : color, "fill-opacity": s.fill === false ? null : 0.85,
          stroke: s.fill === false ? color : null, "stroke-width": s.fill === false ? 1.8 : null,
          "stroke-dasharray": dash }, g);
      });
    } else if (s.kind === "line") {
      var d = "", pen = false;
      s.x.forEach(function (xv, i) {
        var yv = s.y[i];
        if ((xlog && xv <= 0) || (ylog && yv <= 0)) { pen = false; return; }
        d += (pen ? "L" : "M") + X(xv).toFixed(1) + "," + Y(yv).toFixed(1); pen = true;
      });
      el("path", { d: d, fill: "none", stroke: color, "stroke-width": 1.8, "stroke-dasharray": dash }, g);
    } else {
      s.x.forEach(function (xv, i) {
        if ((xlog && xv <= 0) || (ylog && s.y[i] <= 0)) return;
        el("circle", { cx: X(xv), cy: Y(s.y[i]), r: 3, fill: color }, g);
      });
    }
  });
  (p.vlines || []).forEach(function (v) {
    if (xlog && v.x <= 0) return;
    el("line", { x1: X(v.x), x2: X(v.x), y1: ax.y0, y2: ax.y1, stroke: v.color || "#555",
      "stroke-width": 1.3, "stroke-dasharray": v.dash === false ? null : "5,3" }, g);
  });
  (p.hlines || []).forEach(function (v) {
    if (ylog && v.y <= 0) return;
    el("line", { x1: ax.x0, x2: ax.x1, y1: Y(v.y), y2: Y(v.y), stroke: v.color || "#555",
      "stroke-width": 1.3, "stroke-dasharray": v.dash === false ? null : "5,3" }, g);
  });
  el("rect", { x: ax.x0, y: ax.y0, width: ax.x1 - ax.x0, height: ax.y1 - ax.y0, fill: "none", stroke: "#333", "stroke-width": 0.8 }, svg);
  var tsize = Math.max(8, Math.min(12, (W - 8) / (0.62 * Math.max(1, p.title.length))));   // long titles shrink to fit
  var tx = Math.min(Math.max((ax.x0 + ax.x1) / 2, 4 + 0.31 * tsize * p.title.length), W - 4 - 0.31 * tsize * p.title.length);
  text(svg, tx, 16, p.title, { "text-anchor": "middle", "font-size": tsize.toFixed(1), "font-weight": "bold" });
  text(svg, (ax.x0 + ax.x1) / 2, H - 8, p.xlabel, { "text-anchor": "middle" });
  var ymid = (ax.y0 + ax.y1) / 2, ylx = Math.max(12, ax.x0 - 46);
  text(svg, ylx, ymid, p.ylabel, { "text-anchor": "middle", transform: "rotate(-90 " + ylx + " " + ymid + ")" });
  if (showLegend) drawLegend(svg, legend, place, W, H);
  return svg;
}

function drawHeatmap(svg, g, h, X, Y, ax, W) {
  var z = h.z, vmin = h.vmin, vmax = h.vmax;
  if (vmin === undefined || vmax === undefined) {
    var lo = Infinity, hi = -Infinity;
    z.forEach(function (row) { row.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; }); });
    if (vmin === undefined) vmin = lo;
    if (vmax === undefined) vmax = hi;
  }
  var span = (vmax - vmin) || 1;
  var gh = el("g", { "class": "kx-heatmap", "shape-rendering": "crispEdges" }, g);
  if (!heatmapImage(gh, h, X, Y, vmin, span)) {
    for (var r = 0; r < z.length; r++) for (var c = 0; c < z[r].length; c++) {
      var x0 = X(h.x[c]), x1 = X(h.x[c + 1]), y0 = Y(h.y[r]), y1 = Y(h.y[r + 1]);
      el("rect", { x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0) + 0.4,
        height: Math.abs(y1 - y0) + 0.4, fill: colour(h.cmap, (z[r][c] - vmin) / span) }, gh);
    }
  }
  // the colour bar: a strip right of the axes with its ticks and label
  var bx = Math.min(W - 74, ax.x1 + 10), bw = 12, by0 = ax.y0, by1 = ax.y1, n = 48;
  var cb = el("g", { "class": "kx-colorbar" }, svg);
  for (var i = 0; i < n; i++) {
    el("rect", { x: bx, y: by1 - (i + 1) * (by1 - by0) / n, width: bw, height: (by1 - by0) / n + 0.4,
      fill: colour(h.cmap, (i + 0.5) / n) }, cb);
  }
  el("rect", { x: bx, y: by0, width: bw, height: by1 - by0, fill: "none", stroke: "#333", "stroke-width": 0.6 }, cb);
  var C = scale([vmin, vmax], false, by1, by0);
  niceTicks(vmin, vmax, Math.max(2, Math.round((by1 - by0) / 45))).forEach(function (v) {
    if (v < vmin - 1e-9 * span || v > vmax + 1e-9 * span) return;
    el("line", { x1: bx + bw, x2: bx + bw + 3, y1: C(v), y2: C(v), stroke: "#333" }, cb);
    text(cb, bx + bw + 5, C(v) + 3, fmt(v), { "font-size": 9 });
  });
  if (h.label) {
    var lx = Math.min(bx + bw + 42, W - 7), ly = (by0 + by1) / 2;
    text(cb, lx, ly, h.label, { "text-anchor": "middle", "font-size": 10, transform: "rotate(90 " + lx + " " + ly + ")" });
  }
}

// the colour of colour(cmap, t) as [r, g, b]
function colourRGB(cmap, t) {
  var c = colour(cmap, t);
  if (c.charAt(0) === "#") return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
  return c.slice(4, -1).split(",").map(Number);
}
// A heatmap on evenly spaced edges (on screen) as one pixel image (a cell per pixel, scaled
// without smoothing) instead of a rectangle per cell: thousands of SVG elements cost tens of ms
// to build and draw. Returns false where it does not apply (uneven edges, no canvas).
function heatmapImage(gh, h, X, Y, vmin, span) {
  var nr = h.z.length, nc = h.z[0].length;
  var xs = h.x.map(X), ys = h.y.map(Y);
  var even = function (v, n) {
    var d = (v[n] - v[0]) / n;
    for (var i = 1; i < n; i++) if (Math.abs(v[i] - (v[0] + i * d)) > 0.25) return false;
    return d !== 0 && isFinite(d);
  };
  if (nr * nc < 64 || !even(xs, nc) || !even(ys, nr)) return false;
  var cv = document.createElement("canvas");
  var ctx = cv.getContext && cv.getContext("2d");
  if (!ctx || !cv.toDataURL) return false;
  cv.width = nc; cv.height = nr;
  var img = ctx.createImageData(nc, nr), px = img.data;
  var flipX = xs[nc] < xs[0], flipY = ys[nr] < ys[0];     // pixel (0, 0) is the top-left corner
  for (var r = 0; r < nr; r++) {
    var pr = flipY ? nr - 1 - r : r;                      // row 0 at the bottom when y goes up the screen
    for (var c = 0; c < nc; c++) {
      var rgb = colourRGB(h.cmap, (h.z[r][c] - vmin) / span), k = 4 * (pr * nc + (flipX ? nc - 1 - c : c));
      px[k] = rgb[0]; px[k + 1] = rgb[1]; px[k + 2] = rgb[2]; px[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  el("image", { x: Math.min(xs[0], xs[nc]), y: Math.min(ys[0], ys[nr]), width: Math.abs(xs[nc] - xs[0]),
    height: Math.abs(ys[nr] - ys[0]), href: cv.toDataURL("image/png"), preserveAspectRatio: "none",
    style: "image-rendering: crisp-edges; image-rendering: pixelated" }, gh);
  return true;
}

// a corner of the axes where the legend box covers no data; null if none is free
function freeCorner(p, X, Y, ax, lw, lh, xlog, ylog, yl) {
  if (p.heatmap) return null;
  var pts = [], boxes = [];
  (p.series || []).forEach(function (s) {
    if (s.kind === "bar") {
      var w = s.width || 0.8, y0 = Y(ylog ? yl[0] : Math.max(yl[0], 0));
      s.x.forEach(function (xv, i) {
        var a = X(xv - w / 2), b = X(xv + w / 2), yv = Y(s.y[i]);
        boxes.push([Math.min(a, b), Math.min(yv, y0), Math.max(a, b), Math.max(yv, y0)]);
      });
      return;
    }
    var prev = null;
    s.x.forEach(function (xv, i) {
      var yv = s.y[i];
      if ((xlog && xv <= 0) || (ylog && yv <= 0)) { prev = null; return; }
      var q = [X(xv), Y(yv)];
      if (prev && s.kind === "line") {            // points along the segment, every ~4 px
        var steps = Math.min(200, Math.ceil(Math.hypot(q[0] - prev[0], q[1] - prev[1]) / 4));
        for (var k = 1; k < steps; k++) pts.push([prev[0] + (q[0] - prev[0]) * k / steps, prev[1] + (q[1] - prev[1]) * k / steps]);
      }
      pts.push(q); prev = q;
    });
  });
  (p.vlines || []).forEach(function (v) { if (!xlog || v.x > 0) boxes.push([X(v.x) - 1, ax.y0, X(v.x) + 1, ax.y1]); });
  (p.hlines || []).forEach(function (v) { if (!ylog || v.y > 0) boxes.push([ax.x0, Y(v.y) - 1, ax.x1, Y(v.y) + 1]); });
  var pad = 5;
  var corners = [[ax.x1 - pad - lw, ax.y0 + pad], [ax.x0 + pad, ax.y0 + pad],
    [ax.x1 - pad - lw, ax.y1 - pad - lh], [ax.x0 + pad, ax.y1 - pad - lh]];
  if (lw > ax.x1 - ax.x0 - 2 * pad || lh > ax.y1 - ax.y0 - 2 * pad) return null;
  for (var i = 0; i < corners.length; i++) {
    var c = corners[i], x0 = c[0] - 3, y0 = c[1] - 3, x1 = c[0] + lw + 3, y1 = c[1] + lh + 3, hit = false;
    for (var j = 0; j < pts.length && !hit; j++) {
      var q = pts[j];
      if (q[0] >= x0 && q[0] <= x1 && q[1] >= y0 && q[1] <= y1) hit = true;
    }
    for (var b = 0; b < boxes.length && !hit; b++) {
      var r = boxes[b];
      if (r[0] <= x1 && r[2] >= x0 && r[1] <= y1 && r[3] >= y0) hit = true;
    }
    if (!hit) return c;
  }
  return null;
}

function legendKey(lg, it, x, y) {
  if (it.kind === "bar") el("rect", { x: x, y: y - 5, width: 14, height: 9, fill: it.fill === false ? "none" : it.color, stroke: it.color }, lg);
  else if (it.kind === "scatter") el("circle", { cx: x + 7, cy: y, r: 3, fill: it.color }, lg);
  else el("line", { x1: x, x2: x + 14, y1: y, y2: y, stroke: it.color, "stroke-width": 2, "stroke-dasharray": it.dash }, lg);
}

function drawLegend(svg, legend, place, W, H) {
  var lg = el("g", { "class": "kx-legend" }, svg);
  if (place) {
    var lw = 0;
    legend.forEach(function (it) { lw = Math.max(lw, 24 + textWidth(it.label, 10)); });
    el("rect", { x: place[0] - 3, y: place[1] - 3, width: lw + 6, height: legend.length * 15 + 6,
      fill: "#fff", "fill-opacity": 0.9, stroke: "#ccc", "stroke-width": 0.6 }, lg);
    legend.forEach(function (it, i) {
      var y = place[1] + i * 15 + 7;
      legendKey(lg, it, place[0] + 2, y);
      text(lg, place[0] + 21, y + 4, it.label, { "font-size": 10 });
    });
    return;
  }
  legend.rows.forEach(function (row, r) {
    var y = H + 6 + r * 15;
    row.forEach(function (it) {
      legendKey(lg, it, 12 + it.dx, y);
      text(lg, 12 + it.dx + 19, y + 4, it.label, { "font-size": 10 });
    });
  });
}

/* ---- a whole frame: a compact grid of panels, then the readout -------------------------- */
function layout(n) {
  var cols = n <= 2 ? n : (n <= 4 ? 2 : 3);
  var rows = Math.ceil(n / cols);
  var W = n === 1 ? 460 : 400, H = n === 1 ? 320 : 290;
  var maxW = Math.min(n === 1 ? 560 : 460, Math.floor(540 / rows * W / H));
  return { cols: cols, rows: rows, W: W, H: H, maxWidth: cols * maxW + (cols - 1) * 6 };
}

function drawFrame(view, fr) {
  var fig = view.fig;
  try {
    checkFrame(fr);
    var L = layout(fr.panels.length);
    var svgs = fr.panels.map(function (p) { return drawPanel(p, L.W, L.H); });
    fig.style.gridTemplateColumns = "repeat(" + L.cols + ", minmax(0, 1fr))";
    fig.style.maxWidth = L.maxWidth + "px";
    fig.replaceChildren.apply(fig, svgs);
    view.readout.textContent = fr.text || "";
  } catch (err) {
    showError(view, err);
  }
}

function showError(view, err) {
  var box = document.createElement("div");
  box.className = "kx-error";
  box.textContent = "This figure cannot be drawn: " + (err && err.message ? err.message : String(err));
  view.fig.style.gridTemplateColumns = "";
  view.fig.replaceChildren(box);
  view.readout.textContent = "";
  if (typeof console !== "undefined") console.error("kexue explorer:", err);
}

/* ---- controls: fixed-width value labels, so nothing moves while a slider is dragged ------ */
function buildView(root, spec, idx, onInput) {
  injectCss();
  var bar = document.createElement("div"); bar.className = "kx-controls";
  var fig = document.createElement("div"); fig.className = "kx-figure";
  var readout = document.createElement("div"); readout.className = "kx-readout";
  var inputs = [], outputs = [];
  spec.controls.forEach(function (c, ci) {
    var lab = document.createElement("label"); lab.className = "kx-control";
    var name = document.createElement("span"); name.textContent = c.label;
    lab.appendChild(name);
    var input, val = null;
    if (c.kind === "slider") {
      input = document.createElement("input");
      input.type = "range"; input.min = 0; input.max = c.labels.length - 1; input.step = 1;
      input.value = idx[ci];
      val = document.createElement("output");
      var widest = 0;
      c.labels.forEach(function (l) { widest = Math.max(widest, String(l).length); });
      val.style.minWidth = (widest + 0.5) + "ch";
      val.textContent = c.labels[idx[ci]];
    } else {
      input = document.createElement("select");
      c.labels.forEach(function (l, j) { var o = document.createElement("option"); o.value = j; o.textContent = l; input.appendChild(o); });
      input.value = idx[ci];
    }
    input.setAttribute("data-kx-control", c.name);
    input.setAttribute("data-lm-suppress-shortcuts", "true");   // JupyterLab: arrow keys move the slider
    input.setAttribute("aria-label", c.label);
    input.addEventListener("input", function () {
      idx[ci] = +input.value;
      if (val) val.textContent = c.labels[idx[ci]];
      onInput(idx.slice());
    });
    lab.appendChild(input); if (val) lab.appendChild(val);
    bar.appendChild(lab);
    inputs.push(input); outputs.push(val);
  });
  root.appendChild(bar); root.appendChild(fig); root.appendChild(readout);
  return {
    fig: fig, readout: readout,
    setIndex: function (ix) {                   // move the controls (a change from the kernel)
      ix.forEach(function (v, ci) {
        idx[ci] = v; inputs[ci].value = v;
        if (outputs[ci]) outputs[ci].textContent = spec.controls[ci].labels[v];
      });
    }
  };
}

/* ---- kernel-free: every frame precomputed in the page ---------------------------------- */
function mountStatic(root) {
  if (root.getAttribute("data-kx-ready")) return;
  var view;
  try {
    var data = JSON.parse(root.querySelector("script.kx-data").textContent);
    var ctrls = data.controls, idx = ctrls.map(function (c) { return c.default; });
    var strides = [], s = 1;
    for (var i = ctrls.length - 1; i >= 0; i--) { strides[i] = s; s *= ctrls[i].labels.length; }
    var draw = function (ix) {
      var k = 0; ix.forEach(function (v, j) { k += v * strides[j]; });
      drawFrame(view, data.frames[k]);
      root.setAttribute("data-kx-frame", k);
    };
    view = buildView(root, data, idx, draw);
    draw(idx);
  } catch (err) {
    view = view || { fig: root.appendChild(document.createElement("div")), readout: document.createElement("div") };
    showError(view, err);
  }
  var fb = root.querySelector(".kx-fallback"); if (fb) fb.style.display = "none";
  // the PNG of the default state, shown first by the same cell, is no longer needed
  var cell = root.closest(".cell_output");
  if (cell) cell.querySelectorAll("img").forEach(function (img) { var o = img.closest(".output"); (o || img).style.display = "none"; });
  root.setAttribute("data-kx-ready", "1");
}

function bootPage() {
  if (typeof document === "undefined") return;
  var all = function () { document.querySelectorAll(".kx-explorer:not(.kx-live)").forEach(mountStatic); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
}

/* ---- live: the anywidget view --------------------------------------------------------- */
/* Every input event draws at once when the kernel has already sent the frame of that position
 * (it computes the positions around the current one ahead and sends them as custom messages
 * {kx: "ahead", index, frame}); the position is also sent to the kernel (at most one request in
 * flight, the latest position wins), whose answer is drawn unless a newer input is already shown.
 * Attributes for tests and the benchmark: data-kx-sent / data-kx-seq (requests sent / answered),
 * data-kx-inputs (input events), data-kx-shown (the input event whose position is drawn),
 * data-kx-draws (redraws), data-kx-ahead (inputs drawn from a frame computed ahead). */
var AHEAD_MAX = 512;
function render(ctx) {
  var model = ctx.model, host = ctx.el;
  var spec = model.get("spec");
  var root = document.createElement("div");
  root.className = "kx-explorer kx-live";
  root.setAttribute("data-name", spec.name || "");
  host.appendChild(root);
  var fromIndex = function (ix) {
    ix = ix || {};
    return spec.controls.map(function (c) { return ix[c.name] === undefined ? c.default : ix[c.name]; });
  };
  var fromModel = function () { return fromIndex(model.get("index")); };
  var idx = fromModel();
  var sent = model.get("seq") || 0, waiting = false, pending = null, answered = sent, count = 0;
  var inputs = 0, shown = -1, shownKey = null, hits = 0, requests = {};
  var ahead = new Map();                              // position key -> frame computed ahead
  var keep = function (key, fr) {
    ahead.delete(key); ahead.set(key, fr);
    if (ahead.size > AHEAD_MAX) ahead.delete(ahead.keys().next().value);
  };
  var show = function (fr, err, input, key) {
    if (err) showError(view, new Error(err)); else drawFrame(view, fr);
    shown = input; shownKey = err ? null : key; count += 1;
    root.setAttribute("data-kx-shown", input);
    root.setAttribute("data-kx-draws", count);
  };
  var send = function (ix) {
    var obj = {};
    spec.controls.forEach(function (c, i) { obj[c.name] = ix[i]; });
    sent += 1; waiting = true;
    requests[sent] = { input: inputs, key: ix.join(",") };
    model.set("index", obj); model.set("seq", sent); model.save_changes();
    root.setAttribute("data-kx-sent", sent);
  };
  var view = buildView(root, spec, idx, function (ix) {
    inputs += 1;
    root.setAttribute("data-kx-inputs", inputs);
    var key = ix.join(",");
    if (ahead.has(key)) {                             // computed ahead by the kernel: draw now
      hits += 1; root.setAttribute("data-kx-ahead", hits);
      show(ahead.get(key), "", inputs, key);
    }
    if (waiting) pending = ix; else send(ix);         // at most one request in flight
  });
  var onFrame = function () {
    var fs = model.get("frame_seq") || 0, err = model.get("error"), fr = model.get("frame");
    var fix = model.get("frame_index"), req = null;
    if (fs > answered) { req = requests[fs]; answered = fs; }
    for (var s in requests) if (+s <= fs) delete requests[s];
    var key = fix ? fromIndex(fix).join(",") : (req ? req.key : fromModel().join(","));
    var input = req ? req.input : inputs;             // no request of ours: a change made in the kernel
    if (!err && fix) keep(key, fr);
    root.setAttribute("data-kx-seq", fs);
    if (fs >= sent) {
      waiting = false;
      if (pending) { var ix = pending; pending = null; send(ix); }
    }
    if (input < shown) return;                        // a newer position is drawn already
    if (req && input === shown && key === shownKey && !err) return;   // drawn from ahead
    show(fr, err, input, key);
  };
  var onAhead = function (msg) {
    if (!msg || msg.kx !== "ahead" || !Array.isArray(msg.index)) return;
    var key = msg.index.join(",");
    keep(key, msg.frame);
    // the reader is waiting for exactly this position: draw it now
    if (shown < inputs && key === idx.join(",")) { hits += 1; root.setAttribute("data-kx-ahead", hits); show(msg.frame, "", inputs, key); }
  };
  var onIndex = function () { if (!waiting && !pending) view.setIndex(fromModel()); };
  model.on("change:rev", onFrame);
  model.on("change:index", onIndex);
  model.on("msg:custom", onAhead);
  if (model.get("rev") > 0) onFrame();
  if (typeof model.send === "function") model.send({ kx: "view" });   // the kernel may compute ahead now
  root.setAttribute("data-kx-ready", "1");
  return function () {
    model.off("change:rev", onFrame);
    model.off("change:index", onIndex);
    model.off("msg:custom", onAhead);
  };
}

/* the book's live mode (_static/kexue-live.js) draws with this same render(), its model a comm */
if (typeof window !== "undefined") window.kexueExplorer = { render: render, mountStatic: mountStatic };

/* kx-module-export */
export default { render: render };
