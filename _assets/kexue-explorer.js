/* The book's one renderer for kernel-free explorers (kexue.widgets.Explorer.static).
 *
 * A chapter cell outputs <div class="kx-explorer"> holding the JSON of every frame over the
 * grid of its controls. This script builds the controls (range inputs, selects), draws the
 * selected frame as SVG (bars, lines, points, heatmaps, reference lines, legend, log axes) and
 * redraws on every change. No network, no dependencies. The PNG of the default state that the
 * same cell shows first is hidden once the interactive figure is drawn.
 */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var W = 460, H = 320, M = { l: 58, r: 16, t: 30, b: 46 };
  var VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
    "#35b779", "#6ece58", "#b5de2b", "#fde725"];

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
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
    return String(+v.toPrecision(3));
  }
  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) { hi = lo + 1; }
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
    var err = (hi - lo) / n / step;
    if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  function logTicks(lo, hi) {
    var out = [];
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
      if (s.kind === "bar" && axis === "x") { var w = (s.width || 0.8) / 2; vals.push(Math.min.apply(null, s.x) - w, Math.max.apply(null, s.x) + w); }
    });
    if (panel.heatmap) { var h = panel.heatmap; vals = vals.concat(axis === "x" ? h.x : h.y); }
    (panel[axis === "x" ? "vlines" : "hlines"] || []).forEach(function (r) { vals.push(r[axis]); });
    if (!vals.length) return [0, 1];
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (log) return [lo, hi > lo ? hi : lo * 10];
    var pad = (hi - lo) * 0.04 || 0.5;
    return [lo - (panel.heatmap ? 0 : pad), hi + (panel.heatmap ? 0 : pad)];
  }
  function scale(lim, log, a, b) {
    if (log) {
      var l0 = Math.log10(lim[0]), l1 = Math.log10(lim[1]);
      return function (v) { return a + (Math.log10(v) - l0) / (l1 - l0 || 1) * (b - a); };
    }
    return function (v) { return a + (v - lim[0]) / (lim[1] - lim[0] || 1) * (b - a); };
  }
  function viridis(t) {
    t = Math.max(0, Math.min(1, t));
    return VIRIDIS[Math.min(VIRIDIS.length - 1, Math.floor(t * VIRIDIS.length))];
  }
  // the frames' colour maps: viridis (default), gray (low dark), gray_r (high dark: ink on paper)
  function colour(cmap, t) {
    t = Math.max(0, Math.min(1, t));
    if (cmap === "gray" || cmap === "gray_r") {
      var v = Math.round(255 * (cmap === "gray" ? t : 1 - t));
      return "rgb(" + v + "," + v + "," + v + ")";
    }
    return viridis(t);
  }

  function drawPanel(p) {
    var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "class": "kx-panel", "aria-label": p.title });
    el("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }, svg);
    var xl = extent(p, "x"), yl = extent(p, "y");
    var xlog = p.xscale === "log", ylog = p.yscale === "log";
    var X = scale(xl, xlog, M.l, W - M.r), Y = scale(yl, ylog, H - M.b, M.t);
    var clipId = "kxclip" + Math.random().toString(36).slice(2);
    var defs = el("defs", {}, svg), cp = el("clipPath", { id: clipId }, defs);
    el("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b }, cp);
    // grid and ticks
    var xt = p.xticks ? p.xticks[0] : (xlog ? logTicks(xl[0], xl[1]) : niceTicks(xl[0], xl[1], 6));
    var xlab = p.xticks ? p.xticks[1] : xt.map(fmt);
    var yt = ylog ? logTicks(yl[0], yl[1]) : niceTicks(yl[0], yl[1], 5);
    xt.forEach(function (v, i) {
      var x = X(v);
      if (x < M.l - 0.5 || x > W - M.r + 0.5) return;
      el("line", { x1: x, x2: x, y1: M.t, y2: H - M.b, stroke: "#e3e3e3" }, svg);
      text(svg, x, H - M.b + 14, xlab[i], { "text-anchor": "middle", "font-size": 10 });
    });
    yt.forEach(function (v) {
      var y = Y(v);
      if (y < M.t - 0.5 || y > H - M.b + 0.5) return;
      el("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: "#e3e3e3" }, svg);
      text(svg, M.l - 5, y + 3, fmt(v), { "text-anchor": "end", "font-size": 10 });
    });
    el("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, stroke: "#333" }, svg);
    el("line", { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, stroke: "#333" }, svg);
    var g = el("g", { "clip-path": "url(#" + clipId + ")" }, svg);
    if (p.heatmap) {
      var h = p.heatmap, z = h.z, vmin = h.vmin, vmax = h.vmax;
      if (vmin === undefined || vmax === undefined) {
        var flat = [].concat.apply([], z).filter(isFinite);
        vmin = Math.min.apply(null, flat); vmax = Math.max.apply(null, flat);
      }
      for (var r = 0; r < z.length; r++) for (var c = 0; c < z[r].length; c++) {
        var x0 = X(h.x[c]), x1 = X(h.x[c + 1]), y0 = Y(h.y[r]), y1 = Y(h.y[r + 1]);
        el("rect", { x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0) + 0.5,
          height: Math.abs(y1 - y0) + 0.5, fill: colour(h.cmap, (z[r][c] - vmin) / (vmax - vmin || 1)) }, g);
      }
    }
    var legend = [];
    (p.series || []).forEach(function (s) {
      var color = s.color || "#0072B2", dash = s.dash ? "5,3" : null;
      if (s.kind === "bar") {
        var w = (s.width || 0.8), y0 = Y(ylog ? yl[0] : Math.max(yl[0], 0));
        s.x.forEach(function (xv, i) {
          var a = X(xv - w / 2), b = X(xv + w / 2), yv = Y(s.y[i]);
          el("rect", { "class": "kx-bar", x: a, y: Math.min(yv, y0), width: b - a, height: Math.abs(y0 - yv),
            fill: s.fill === false ? "none" : color, "fill-opacity": s.fill === false ? null : 0.85,
            stroke: s.fill === false ? color : null, "stroke-width": s.fill === false ? 1.8 : null,
            "stroke-dasharray": dash }, g);
        });
      } else if (s.kind === "line") {
        var d = "", pen = false;
        s.x.forEach(function (xv, i) {
          var yv = s.y[i];
          if (!isFinite(xv) || !isFinite(yv) || (xlog && xv <= 0) || (ylog && yv <= 0)) { pen = false; return; }
          d += (pen ? "L" : "M") + X(xv).toFixed(1) + "," + Y(yv).toFixed(1); pen = true;
        });
        el("path", { d: d, fill: "none", stroke: color, "stroke-width": 1.8, "stroke-dasharray": dash }, g);
      } else {
        s.x.forEach(function (xv, i) {
          if ((xlog && xv <= 0) || (ylog && s.y[i] <= 0)) return;
          el("circle", { cx: X(xv), cy: Y(s.y[i]), r: 3, fill: color }, g);
        });
      }
      if (s.label) legend.push({ label: s.label, color: color, dash: dash, kind: s.kind, fill: s.fill });
    });
    (p.vlines || []).forEach(function (v) {
      el("line", { x1: X(v.x), x2: X(v.x), y1: M.t, y2: H - M.b, stroke: v.color || "#555",
        "stroke-width": 1.3, "stroke-dasharray": v.dash === false ? null : "5,3" }, g);
      if (v.label) legend.push({ label: v.label, color: v.color || "#555", dash: "5,3", kind: "line" });
    });
    (p.hlines || []).forEach(function (v) {
      el("line", { x1: M.l, x2: W - M.r, y1: Y(v.y), y2: Y(v.y), stroke: v.color || "#555",
        "stroke-width": 1.3, "stroke-dasharray": v.dash === false ? null : "5,3" }, g);
      if (v.label) legend.push({ label: v.label, color: v.color || "#555", dash: "5,3", kind: "line" });
    });
    text(svg, (M.l + W - M.r) / 2, 16, p.title, { "text-anchor": "middle", "font-size": 12, "font-weight": "bold" });
    text(svg, (M.l + W - M.r) / 2, H - 8, p.xlabel, { "text-anchor": "middle" });
    var yl_ = text(svg, 14, (M.t + H - M.b) / 2, p.ylabel, { "text-anchor": "middle" });
    yl_.setAttribute("transform", "rotate(-90 14 " + (M.t + H - M.b) / 2 + ")");
    if (p.legend !== false && legend.length) {
      var lg = el("g", {}, svg), lx = W - M.r - 150, ly = M.t + 6;
      el("rect", { x: lx - 4, y: ly - 4, width: 150, height: legend.length * 15 + 6, fill: "#fff", "fill-opacity": 0.85 }, lg);
      legend.forEach(function (it, i) {
        var y = ly + i * 15 + 6;
        if (it.kind === "bar") el("rect", { x: lx, y: y - 5, width: 14, height: 9, fill: it.fill === false ? "none" : it.color, stroke: it.color }, lg);
        else if (it.kind === "scatter") el("circle", { cx: lx + 7, cy: y, r: 3, fill: it.color }, lg);
        else el("line", { x1: lx, x2: lx + 14, y1: y, y2: y, stroke: it.color, "stroke-width": 2, "stroke-dasharray": it.dash }, lg);
        text(lg, lx + 19, y + 4, it.label, { "font-size": 10 });
      });
    }
    return svg;
  }

  function init(root) {
    if (root.getAttribute("data-kx-ready")) return;
    var data = JSON.parse(root.querySelector("script.kx-data").textContent);
    var ctrls = data.controls, idx = ctrls.map(function (c) { return c.default; });
    var strides = [], s = 1;
    for (var i = ctrls.length - 1; i >= 0; i--) { strides[i] = s; s *= ctrls[i].labels.length; }
    var bar = document.createElement("div"); bar.className = "kx-controls";
    var fig = document.createElement("div"); fig.className = "kx-figure";
    var readout = document.createElement("div"); readout.className = "kx-readout";
    ctrls.forEach(function (c, ci) {
      var lab = document.createElement("label"); lab.className = "kx-control";
      var name = document.createElement("span"); name.textContent = c.label + " ";
      lab.appendChild(name);
      var input, val = document.createElement("output");
      if (c.kind === "slider") {
        input = document.createElement("input");
        input.type = "range"; input.min = 0; input.max = c.labels.length - 1; input.step = 1;
        input.value = c.default;
        val.textContent = " " + c.labels[c.default];
      } else {
        input = document.createElement("select");
        c.labels.forEach(function (l, j) { var o = document.createElement("option"); o.value = j; o.textContent = l; input.appendChild(o); });
        input.value = c.default;
      }
      input.setAttribute("data-kx-control", c.name);
      input.setAttribute("aria-label", c.label);
      input.addEventListener("input", function () {
        idx[ci] = +input.value;
        if (c.kind === "slider") val.textContent = " " + c.labels[idx[ci]];
        draw();
      });
      lab.appendChild(input); if (c.kind === "slider") lab.appendChild(val);
      bar.appendChild(lab);
    });
    function draw() {
      var k = 0; idx.forEach(function (v, i) { k += v * strides[i]; });
      var frame = data.frames[k];
      fig.innerHTML = "";
      frame.panels.forEach(function (p) { fig.appendChild(drawPanel(p)); });
      readout.textContent = frame.text || "";
      root.setAttribute("data-kx-frame", k);
    }
    root.appendChild(bar); root.appendChild(fig); root.appendChild(readout);
    draw();
    var fb = root.querySelector(".kx-fallback"); if (fb) fb.style.display = "none";
    // the PNG of the default state, shown first by the same cell, is no longer needed
    var cell = root.closest(".cell_output");
    if (cell) cell.querySelectorAll("img").forEach(function (img) { img.closest(".output") ? img.closest(".output").style.display = "none" : img.style.display = "none"; });
    root.setAttribute("data-kx-ready", "1");
  }

  function initAll() { document.querySelectorAll(".kx-explorer").forEach(init); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll);
  else initAll();
})();
