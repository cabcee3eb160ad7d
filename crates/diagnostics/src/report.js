// report.html's step view: two panels, each showing one recorded step (a selector picks it),
// drawn from the records embedded in the page. No network, no library.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var records = data.records;
  // Tableau 10, as the SVG/PNG plots: told apart by colour-blind readers too; past ten
  // series the colours repeat dashed, then dotted.
  var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  var DASHES = ["", "10 5", "2 4"];
  // Pixels per map cell, at most (wide layers get fewer, down to one).
  var CELL = 4, MAP_WIDTH = 800;
  var W = 460, H = 250, L = 56, R = 12, T = 10, B = 34;

  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function density(h) {
    var n = h.counts.length, total = 0;
    h.counts.forEach(function (c) { total += c; });
    var w = Math.max((h.hi - h.lo) / Math.max(n, 1), 1e-300);
    return h.counts.map(function (c, i) { return [h.lo + (i + 0.5) * w, c / (Math.max(total, 1) * w)]; });
  }

  function fmt(v) {
    var a = Math.abs(v);
    if (a < 1e-12) return "0";
    if (a < 1e-4 || a >= 1e6) return v.toExponential(1);
    return Number(v.toPrecision(4)).toString();
  }

  // Round tick values (1, 2 or 5 times a power of ten) inside [lo, hi], about five of them.
  function ticks(lo, hi) {
    var raw = (hi - lo) / 5, step = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / step;
    step *= r >= 7.5 ? 10 : r >= 3.5 ? 5 : r >= 1.5 ? 2 : 1;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  // A line chart of density curves, the y axis from 0, the legend below the plot.
  function chart(kind, title, series, xLabel) {
    var x0 = Infinity, x1 = -Infinity, y1 = 0;
    series.forEach(function (s) {
      s.pts.forEach(function (p) {
        if (!isFinite(p[0]) || !isFinite(p[1])) return;
        x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y1 = Math.max(y1, p[1]);
      });
    });
    if (!isFinite(x0)) { x0 = -1; x1 = 1; }
    if (x1 <= x0) { x0 -= 0.5; x1 += 0.5; }
    if (y1 <= 0) y1 = 1;
    y1 *= 1.05;
    var sx = function (x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    var sy = function (y) { return H - B - y / y1 * (H - T - B); };
    var svg = '<svg xmlns="http://www.w3.org/2000/svg" width="' + W + '" height="' + H + '" style="max-width:100%;height:auto" viewBox="0 0 ' + W + " " + H + '">';
    svg += '<rect x="' + L + '" y="' + T + '" width="' + (W - L - R) + '" height="' + (H - T - B) + '" fill="none" stroke="#999"/>';
    ticks(x0, x1).forEach(function (xv) {
      svg += '<text x="' + sx(xv) + '" y="' + (H - B + 14) + '" font-size="10" text-anchor="middle">' + fmt(xv) + "</text>";
    });
    ticks(0, y1).forEach(function (yv) {
      svg += '<text x="' + (L - 4) + '" y="' + (sy(yv) + 3) + '" font-size="10" text-anchor="end">' + fmt(yv) + "</text>";
      svg += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + sy(yv) + '" y2="' + sy(yv) + '" stroke="#eee"/>';
    });
    svg += '<text x="' + ((L + W - R) / 2) + '" y="' + (H - 4) + '" font-size="11" text-anchor="middle">' + esc(xLabel) + "</text>";
    svg += '<text x="12" y="' + ((T + H - B) / 2) + '" font-size="11" text-anchor="middle" transform="rotate(-90 12 ' + ((T + H - B) / 2) + ')">density</text>';
    var legend = "";
    series.forEach(function (s, k) {
      var color = PALETTE[k % PALETTE.length], dash = DASHES[Math.floor(k / PALETTE.length) % DASHES.length];
      var pts = s.pts.filter(function (p) { return isFinite(p[0]) && isFinite(p[1]); })
        .map(function (p) { return sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1); }).join(" ");
      svg += '<polyline fill="none" stroke="' + color + '" stroke-width="1.6"' + (dash ? ' stroke-dasharray="' + dash + '"' : "") + ' points="' + pts + '"/>';
      legend += '<li><span class="swatch" style="border-top:3px ' + (dash ? "dashed" : "solid") + " " + color + '"></span>' + esc(s.label) + "</li>";
    });
    svg += "</svg>";
    return '<figure class="chart" data-chart="' + kind + '"><figcaption>' + esc(title) + "</figcaption>" + svg + '<ul class="legend">' + legend + "</ul></figure>";
  }

  // A number for a label; a NaN or infinity (null in the JSON) reads "n/a".
  function fx(v, digits) { return typeof v === "number" ? v.toFixed(digits) : "n/a"; }
  function ex(v, digits) { return typeof v === "number" ? v.toExponential(digits) : "n/a"; }

  // What counts as saturated in layer l of record r, as the tables say it.
  function satWords(r, l) {
    var t = r.saturation_threshold, kind = l.layer.kind.saturation;
    if (kind === "zero") return "zero (no gradient)";
    if (kind === "negative") return "negative";
    if (typeof t !== "number") return "saturated";
    if (kind === "sigmoid") return "saturated (x < " + ((1 - t) / 2).toFixed(3) + " or x > " + ((1 + t) / 2).toFixed(3) + ")";
    return "saturated (|x| > " + Number(t.toPrecision(6)) + ")";
  }

  function pct(r, l) {
    var x = l.output.saturated_frac;
    return x === null || x === undefined ? "" : ", " + satWords(r, l) + " " + (100 * x).toFixed(2) + "%";
  }

  function actSeries(r) {
    return r.layers.filter(function (l) { return l.layer.kind.type === "activation"; }).map(function (l) {
      return { label: l.name + ": mean " + fx(l.output.mean, 2) + ", std " + fx(l.output.std, 2) + pct(r, l), pts: density(l.output.histogram) };
    });
  }

  // The layer just before each activation: the lecture's hpreact (Linear or norm output).
  function preSeries(r) {
    var out = [];
    r.layers.forEach(function (l, i) {
      if (l.layer.kind.type !== "activation" || i === 0) return;
      var p = r.layers[i - 1];
      out.push({ label: p.name + " (into " + l.name + "): mean " + fx(p.output.mean, 2) + ", std " + fx(p.output.std, 2), pts: density(p.output.histogram) });
    });
    return out;
  }

  function gradSeries(r) {
    return r.layers.filter(function (l) { return l.layer.kind.type === "activation" && l.grad; }).map(function (l) {
      return { label: l.name + ": std " + ex(l.grad.std, 2), pts: density(l.grad.histogram) };
    });
  }

  function weightSeries(r) {
    return r.params.filter(function (p) { return p.shape.length === 2; }).map(function (p) {
      return { label: p.name + " [" + p.shape.join(", ") + "]: std " + ex(p.grad_std, 2), pts: density(p.grad_histogram) };
    });
  }

  // A saturation map on a canvas: a band (red above dead columns), then white where saturated.
  function mapFigure(r, l) {
    var m = l.output.map, band = 2, bytes;
    try {
      bytes = atob(m.bits);
    } catch (e) {
      bytes = "";
    }
    if (bytes.length !== Math.ceil(m.rows * m.units / 8)) {
      // A damaged record: said so, and the other pictures still drawn.
      var broken = document.createElement("figure");
      broken.className = "map";
      broken.innerHTML = "<figcaption>" + esc(l.name + ": the saturation map of this record is damaged") + "</figcaption>";
      return broken;
    }
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(m.units, 1);
    canvas.height = m.rows + band;
    canvas.className = "satmap";
    canvas.dataset.layer = l.layer.index;
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(canvas.width, canvas.height), white = 0;
    for (var y = 0; y < canvas.height; y++) {
      for (var x = 0; x < m.units; x++) {
        var o = 4 * (y * canvas.width + x), v;
        if (y < band) {
          v = m.dead.indexOf(x) >= 0 ? [220, 30, 30] : [200, 200, 200];
        } else {
          var i = (y - band) * m.units + x, on = (bytes.charCodeAt(i >> 3) >> (7 - (i & 7))) & 1;
          white += on;
          v = on ? [255, 255, 255] : [0, 0, 0];
        }
        img.data[o] = v[0]; img.data[o + 1] = v[1]; img.data[o + 2] = v[2]; img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    canvas.dataset.white = white;
    var cell = Math.max(1, Math.min(CELL, Math.floor(MAP_WIDTH / Math.max(m.units, 1))));
    canvas.style.width = m.units * cell + "px";
    canvas.style.height = "auto";
    var batch = Math.round(l.output.count / Math.max(m.units, 1));
    var rows = m.rows < batch ? "the batch's first " + m.rows + " of " + batch + " examples" : m.rows + " examples";
    var dead = m.dead.length ? "dead units (red): " + m.dead.join(", ") : "no dead units";
    var fig = document.createElement("figure");
    fig.className = "map";
    fig.innerHTML = "<figcaption>" + esc(l.name + ": " + rows + " x " + m.units + " units, white = " + satWords(r, l) + ": " + (100 * white / Math.max(m.rows * m.units, 1)).toFixed(2) + "% of these; " + dead) + "</figcaption>";
    fig.appendChild(canvas);
    return fig;
  }

  function render(panel, idx) {
    var r = records[idx], figs = panel.querySelector(".figs");
    var html = chart("activations", "activations (step " + r.step + ")", actSeries(r), "activation");
    var pre = preSeries(r);
    if (pre.length) html += chart("preactivations", "pre-activations (step " + r.step + ")", pre, "pre-activation");
    var grads = gradSeries(r);
    if (grads.length) html += chart("activation-grads", "gradients at the activations (step " + r.step + ")", grads, "gradient");
    html += chart("weight-grads", "weight gradients (step " + r.step + ")", weightSeries(r), "gradient");
    figs.innerHTML = html;
    r.layers.forEach(function (l) {
      if (l.layer.kind.type === "activation" && l.output.map) figs.appendChild(mapFigure(r, l));
    });
    panel.querySelector(".table").textContent = data.tables[idx];
  }

  document.querySelectorAll(".panel").forEach(function (panel) {
    var select = panel.querySelector("select");
    records.forEach(function (r, i) {
      var o = document.createElement("option");
      o.value = i;
      o.textContent = "step " + r.step + " (loss " + fx(r.loss, 4) + ")";
      select.appendChild(o);
    });
    var start = panel.dataset.side === "left" ? 0 : records.length - 1;
    select.value = start;
    select.addEventListener("change", function () { render(panel, Number(select.value)); });
    render(panel, start);
  });
  document.body.dataset.ready = "1";
})();
