// Berth's chart library: small SVG line and bar charts, no dependencies, works offline.
// Each chart is an <svg class="chart"> with data-points = the number of values drawn, so a test
// (and a person) can tell a drawn chart from an empty one.
"use strict";
const BerthCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const palette = ["#2f6fdf", "#e4572e", "#17a398", "#f3a712", "#7b4fbf", "#6c757d"];

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1000) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
  }

  function frame(container, title, width, height) {
    container.innerHTML = "";
    const svg = el("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img" }, container);
    el("title", {}, svg).textContent = title;
    el("text", { x: 8, y: 16, class: "chart-title" }, svg).textContent = title;
    return svg;
  }

  function legend(svg, series, x, y) {
    series.forEach((s, i) => {
      const g = el("g", { transform: `translate(${x + i * 110},${y})` }, svg);
      el("rect", { width: 10, height: 10, y: -9, fill: s.color || palette[i % palette.length], rx: 2 }, g);
      el("text", { x: 14, class: "chart-legend" }, g).textContent = s.label;
    });
  }

  // times: seconds since 1970; series: [{label, values (null = no data), color}].
  function line(container, { title, times, series, unit = "", yMax }) {
    const W = 520, H = 200, L = 46, R = 10, T = 28, B = 34;
    const svg = frame(container, title, W, H);
    const all = series.flatMap(s => s.values).filter(v => v !== null && isFinite(v));
    const top = yMax !== undefined ? yMax : niceMax(Math.max(0, ...all) * 1.1);
    const t0 = times[0], t1 = times[times.length - 1];
    const x = t => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - L - R);
    const y = v => T + (1 - v / top) * (H - T - B);
    for (let k = 0; k <= 4; k++) {
      const v = top * k / 4;
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }, svg);
      el("text", { x: L - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" }, svg).textContent = fmt(v) + unit;
    }
    if (times.length) {
      for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
        el("text", { x: x(t), y: H - B + 14, class: "axis", "text-anchor": anchor }, svg).textContent =
          new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      }
    }
    let points = 0;
    series.forEach((s, i) => {
      const color = s.color || palette[i % palette.length];
      let d = "", pen = false;
      s.values.forEach((v, j) => {
        if (v === null || !isFinite(v)) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x(times[j]).toFixed(1)},${y(Math.min(v, top)).toFixed(1)}`;
        pen = true;
        points++;
        const dot = el("circle", { cx: x(times[j]), cy: y(Math.min(v, top)), r: 2.2, fill: color }, svg);
        el("title", {}, dot).textContent = `${s.label}: ${fmt(v)}${unit}`;
      });
      if (d) el("path", { d, stroke: color, fill: "none", "stroke-width": 1.8 }, svg);
    });
    if (!points) el("text", { x: W / 2, y: H / 2, class: "empty", "text-anchor": "middle" }, svg).textContent = "no data yet";
    legend(svg, series, L, H - 6);
    svg.setAttribute("data-points", String(points));
    return svg;
  }

  // bins: labels; series: [{label, values, color}] drawn side by side per bin.
  function bars(container, { title, bins, series, unit = "" }) {
    const W = 520, H = 200, L = 40, R = 10, T = 28, B = 44;
    const svg = frame(container, title, W, H);
    const top = niceMax(Math.max(0, ...series.flatMap(s => s.values)) * 1.1);
    const y = v => T + (1 - v / top) * (H - T - B);
    for (let k = 0; k <= 4; k++) {
      const v = top * k / 4;
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }, svg);
      el("text", { x: L - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" }, svg).textContent = fmt(v) + unit;
    }
    const slot = (W - L - R) / Math.max(1, bins.length), bw = slot * 0.8 / Math.max(1, series.length);
    let points = 0;
    bins.forEach((b, j) => {
      series.forEach((s, i) => {
        const v = s.values[j] || 0, x0 = L + j * slot + slot * 0.1 + i * bw;
        const r = el("rect", { x: x0, y: y(v), width: Math.max(1, bw - 1), height: Math.max(0, y(0) - y(v)),
                               fill: s.color || palette[i % palette.length], rx: 1 }, svg);
        el("title", {}, r).textContent = `${b} — ${s.label}: ${fmt(v)}${unit}`;
        points++;
      });
      // Every label when they fit, else every third: a bin's label is its first 10 characters.
      const every = bins.length > 6 ? 3 : 1;
      if (j % every === 0 || j === bins.length - 1) {
        el("text", { x: L + (j + 0.5) * slot, y: H - B + 12, class: "axis small", "text-anchor": "middle" }, svg).textContent =
          b.length > 10 ? b.slice(0, 9) + "…" : b;
      }
    });
    legend(svg, series, L, H - 6);
    svg.setAttribute("data-points", String(points));
    return svg;
  }

  return { line, bars, fmt, palette };
})();
