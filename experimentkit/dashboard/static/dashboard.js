/* experimentkit dashboard: draws the charts whose data the page carries in
   <script type="application/json"> blocks, with uPlot (shipped next to this file).
   No inline scripts, no eval, no network access beyond the dashboard's own /api/live. */
(function () {
  "use strict";
  var COLORS = ["#1f6feb", "#d4a72c", "#1a7f37", "#cf222e", "#8250df", "#0a7ea4", "#bc4c00",
                "#6e7781", "#bf3989", "#4d2d00"];
  var charts = [];

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function width(el) {
    var box = el.closest(".charts") || document.body;
    return Math.max(360, Math.min(640, Math.floor(box.clientWidth / 2) - 24));
  }

  // Exponential moving average with the start debiased (as TensorBoard smooths).
  function smooth(values, weight) {
    if (!weight) return values;
    var out = [], last = 0, n = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null) { out.push(null); continue; }
      last = last * weight + (1 - weight) * v; n++;
      out.push(last / (1 - Math.pow(weight, n)));
    }
    return out;
  }

  // Wheel zooms x around the cursor, shift+wheel pans.
  function wheelPlugin() {
    return {hooks: {ready: function (u) {
      u.over.addEventListener("wheel", function (e) {
        e.preventDefault();
        var min = u.scales.x.min, max = u.scales.x.max, range = max - min;
        if (!isFinite(range) || range <= 0) return;
        if (e.shiftKey) {
          var shift = range * 0.1 * Math.sign(e.deltaY || e.deltaX);
          u.setScale("x", {min: min + shift, max: max + shift});
          return;
        }
        var at = u.posToVal(e.offsetX, "x"), factor = e.deltaY < 0 ? 0.8 : 1.25;
        u.setScale("x", {min: at - (at - min) * factor, max: at + (max - at) * factor});
      }, {passive: false});
    }}};
  }

  function lineOptions(title, labels, opts, el) {
    var series = [{label: opts.x === "step" ? "step" : opts.x === "time" ? "time" : "seconds"}];
    labels.forEach(function (label, i) {
      series.push({label: label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
                   points: {show: false}});
    });
    return {
      title: title, width: width(el), height: 240, series: series, plugins: [wheelPlugin()],
      scales: {x: {time: opts.x === "time"}, y: {distr: opts.log ? 3 : 1}},
      cursor: {drag: {x: true, y: false}}, legend: {live: true}
    };
  }

  function lineData(chart, opts) {
    var tables = chart.series.map(function (s) {
      var xs = opts.x === "step" ? s.step : s.time.slice();
      if (opts.x === "relative") {
        var t0 = null;
        for (var i = 0; i < xs.length; i++) if (xs[i] !== null) { t0 = xs[i]; break; }
        xs = xs.map(function (t) { return t === null || t0 === null ? null : t - t0; });
      }
      var ys = smooth(s.value, opts.smooth).map(function (v) {
        return opts.log && v !== null && v <= 0 ? null : v;
      });
      var pairs = [];
      for (var j = 0; j < xs.length; j++) if (xs[j] !== null) pairs.push([xs[j], ys[j]]);
      pairs.sort(function (a, b) { return a[0] - b[0]; });
      return [pairs.map(function (p) { return p[0]; }), pairs.map(function (p) { return p[1]; })];
    });
    return tables.length === 1 ? tables[0] : uPlot.join(tables);
  }

  function drawGroup(group, data) {
    var controls = {
      x: group.querySelector(".ek-x"), log: group.querySelector(".ek-log"),
      smooth: group.querySelector(".ek-smooth")
    };
    var mine = [];
    function render() {
      mine.forEach(function (u) { u.destroy(); charts.splice(charts.indexOf(u), 1); });
      mine = [];
      var opts = {x: controls.x ? controls.x.value : "step", log: controls.log && controls.log.checked,
                  smooth: controls.smooth ? parseFloat(controls.smooth.value) : 0};
      group.querySelectorAll(".ek-chart").forEach(function (el) {
        var chart = data[parseInt(el.getAttribute("data-index"), 10)];
        if (!chart || !chart.series.length) return;
        var labels = chart.series.map(function (s) { return s.label; });
        var u = new uPlot(lineOptions("", labels, opts, el), lineData(chart, opts), el);
        mine.push(u);
        charts.push(u);
      });
    }
    [controls.x, controls.log, controls.smooth].forEach(function (c) {
      if (c) c.addEventListener(c.type === "range" ? "input" : "change", render);
    });
    render();
    return function (newData) { data = newData; render(); };
  }

  function drawLineCharts() {
    var redraws = {};
    document.querySelectorAll(".chart-group").forEach(function (group) {
      var first = group.querySelector(".ek-chart");
      if (!first) return;
      var source = first.getAttribute("data-source");
      var data = readJSON(source);
      if (data) redraws[source] = drawGroup(group, data);
    });
    return redraws;
  }

  function drawProgress() {
    var el = document.getElementById("ek-progress");
    var data = readJSON("ek-progress-data");
    if (!el || !data || !data.timeline.time.length) return;
    var t = data.timeline;
    var u = new uPlot({
      width: 900, height: 320, plugins: [wheelPlugin()],
      scales: {x: {time: true}},
      series: [
        {label: "ended"},
        {label: data.metric + " (run)", stroke: "#1f6feb", paths: function () { return null; },
         points: {show: true, size: 7, fill: "#1f6feb"}},
        {label: "best so far", stroke: "#1a7f37", width: 2,
         paths: uPlot.paths.stepped({align: 1})}
      ],
      legend: {live: true}
    }, [t.time, t.value, t.best], el);
    charts.push(u);
    var label = document.createElement("p");
    label.className = "muted hover-run";
    el.appendChild(label);
    u.over.addEventListener("mousemove", function () {
      var i = u.cursor.idx;
      label.textContent = i === null || i === undefined ? "" : "run " + t.ids[i] + ": " + t.value[i];
    });
    u.over.addEventListener("click", function () {
      var i = u.cursor.idx;
      if (i !== null && i !== undefined && u.select.width === 0) window.location.href = t.hrefs[i];
    });
  }

  function xRange(pts, key) {
    var vs = pts.map(function (r) { return r.config[key]; });
    return vs.length ? [Math.min.apply(null, vs), Math.max.apply(null, vs)] : [0, 0];
  }

  function drawParams() {
    var data = readJSON("ek-params");
    var box = document.getElementById("ek-scatter");
    var select = document.getElementById("ek-param-metric");
    if (!data || !box || !select) return;
    var mine = [];
    function render() {
      mine.forEach(function (u) { u.destroy(); });
      mine = [];
      box.textContent = "";
      var metric = select.value;
      data.keys.forEach(function (key) {
        var pts = data.runs.filter(function (r) {
          return r.config[key] !== null && r.metrics[metric] !== null;
        }).sort(function (a, b) { return a.config[key] - b.config[key]; });
        var fig = document.createElement("figure");
        var cap = document.createElement("figcaption");
        cap.textContent = metric + " vs " + key;
        fig.appendChild(cap);
        box.appendChild(fig);
        var cats = (data.categories || {})[key];
        var xAxis = cats ? {values: function (u, splits) {
          return splits.map(function (v) { return v === Math.round(v) && cats[v] !== undefined ? cats[v] : ""; });
        }} : {};
        var u = new uPlot({
          width: 360, height: 220,
          series: [{label: key, value: cats ? function (u, v) { return v === null ? "" : cats[v]; } : undefined},
                   {label: metric, stroke: "#1f6feb",
                   paths: function () { return null; }, points: {show: true, size: 8}}],
          scales: {x: {time: false, distr: !cats && spansDecades(xRange(pts, key)) ? 3 : 1}},
          axes: [xAxis, {}], legend: {live: true}
        }, [pts.map(function (r) { return r.config[key]; }),
            pts.map(function (r) { return r.metrics[metric]; })], fig);
        var label = document.createElement("p");
        label.className = "muted hover-run";
        fig.appendChild(label);
        u.over.addEventListener("mousemove", function () {
          var i = u.cursor.idx;
          label.textContent = i === null || i === undefined ? "" :
            "run " + pts[i].id + ": " + key + " = " + (cats ? cats[pts[i].config[key]] : pts[i].config[key]) +
            ", " + metric +
            " = " + pts[i].metrics[metric];
        });
        u.over.addEventListener("click", function () {
          var i = u.cursor.idx;
          if (i !== null && i !== undefined && u.select.width === 0) window.location.href = pts[i].href;
        });
        mine.push(u);
      });
      parallel(document.getElementById("ek-parallel"), data, metric);
    }
    select.addEventListener("change", render);
    render();
  }

  // Positive values over more than an order of magnitude read better on a log axis.
  function spansDecades(range) {
    return range[0] > 0 && isFinite(range[1]) && range[1] / range[0] >= 10;
  }

  // Parallel coordinates on a canvas: one axis per numeric config key and the metric,
  // one line per run coloured by the metric (blue low, red high); a sweep's categorical axes
  // (data.categories) are labelled by their values, and its best run (data.best) drawn in black.
  function parallel(canvas, data, metric) {
    if (!canvas) return;
    var axes = data.keys.concat([metric]);
    var cats = data.categories || {};
    var ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, top = 30, bottom = H - 30;
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px system-ui, sans-serif";
    function value(run, axis, i) { return i === axes.length - 1 ? run.metrics[axis] : run.config[axis]; }
    var ranges = axes.map(function (axis, i) {
      if (cats[axis] && i < axes.length - 1) return [0, cats[axis].length - 1];
      var vs = data.runs.map(function (r) { return value(r, axis, i); }).filter(function (v) { return v !== null; });
      return [Math.min.apply(null, vs), Math.max.apply(null, vs)];
    });
    var xs = axes.map(function (_, i) { return 60 + i * (W - 120) / Math.max(1, axes.length - 1); });
    var logs = axes.map(function (axis, i) {  // swept values only: the metric stays linear
      return i < axes.length - 1 && !cats[axis] && spansDecades(ranges[i]);
    });
    function y(v, i) {
      var r = ranges[i], lo = r[0], hi = r[1];
      if (logs[i]) { v = Math.log10(v); lo = Math.log10(lo); hi = Math.log10(hi); }
      var span = hi - lo;
      return span ? bottom - (v - lo) / span * (bottom - top) : (top + bottom) / 2;
    }
    var mr = ranges[axes.length - 1];
    var order = data.runs.filter(function (r) { return r.id !== data.best; })
      .concat(data.runs.filter(function (r) { return r.id === data.best; }));
    order.forEach(function (run) {
      var m = run.metrics[metric];
      var f = m === null || mr[1] === mr[0] ? 0.5 : (m - mr[0]) / (mr[1] - mr[0]);
      var isBest = data.best !== undefined && data.best !== null && run.id === data.best;
      ctx.strokeStyle = isBest ? "#000" :
        "rgba(" + Math.round(255 * f) + ",60," + Math.round(255 * (1 - f)) + ",0.8)";
      ctx.lineWidth = isBest ? 3 : 1.5;
      ctx.beginPath();
      var started = false;
      axes.forEach(function (axis, i) {
        var v = value(run, axis, i);
        if (v === null) { started = false; return; }
        if (started) ctx.lineTo(xs[i], y(v, i)); else ctx.moveTo(xs[i], y(v, i));
        started = true;
      });
      ctx.stroke();
    });
    ctx.fillStyle = "#1f2328";
    ctx.strokeStyle = "#6e7781";
    axes.forEach(function (axis, i) {
      ctx.beginPath(); ctx.moveTo(xs[i], top); ctx.lineTo(xs[i], bottom); ctx.stroke();
      ctx.textAlign = "center";
      ctx.fillText(axis, xs[i], 14);
      if (cats[axis] && i < axes.length - 1) {
        ctx.textAlign = "left";
        cats[axis].forEach(function (label, k) {
          if (k >= ranges[i][0] && k <= ranges[i][1]) ctx.fillText(label, xs[i] + 4, y(k, i) + 4);
        });
        return;
      }
      ctx.fillText(String(+ranges[i][1].toPrecision(4)), xs[i], top - 4);
      ctx.fillText(String(+ranges[i][0].toPrecision(4)) + (logs[i] ? " (log)" : ""), xs[i], bottom + 14);
    });
    canvas.setAttribute("data-lines", String(order.length));
  }

  function live(redraws) {
    var main = document.querySelector("main[data-live]");
    if (!main) return;
    var url = main.getAttribute("data-live");
    var timer = setInterval(function () {
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (d) {
        var out = document.getElementById("output");
        if (out) out.textContent = d.output || "none";
        var status = document.getElementById("live-status");
        if (status) status.textContent = d.status;
        if (redraws["ek-charts"]) redraws["ek-charts"](d.charts);
        if (d.status !== "RUNNING") clearInterval(timer);
      }).catch(function () { clearInterval(timer); });
    }, 3000);
  }

  function tableSelection() {
    var all = document.getElementById("select-all");
    if (!all) return;
    var elsewhere = document.getElementById("selected-elsewhere");
    var boxes = document.querySelectorAll('#runs input[name="ids"]');

    // The ticked runs of every page live in the address (ids=...): the links to other pages and
    // sorts, and the filter form, carry them, so copying the address shares the selection.
    function keep() {
      var ids = (elsewhere && elsewhere.value ? elsewhere.value.split(",") : []);
      boxes.forEach(function (box) { if (box.checked) ids.push(box.value); });
      var text = ids.join(",");
      function withIds(href) {
        var url = new URL(href, window.location.href);
        if (text) url.searchParams.set("ids", text); else url.searchParams.delete("ids");
        return url.pathname + url.search + url.hash;
      }
      history.replaceState(null, "", withIds(window.location.href));
      document.querySelectorAll("a.keep-selection").forEach(function (a) {
        a.setAttribute("href", withIds(a.getAttribute("href")));
      });
      document.querySelectorAll("input.ek-selection").forEach(function (input) {
        input.value = text;
      });
      var count = document.getElementById("selected-count");
      if (count) count.textContent = ids.length + " selected";
    }

    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
      keep();
    });
    boxes.forEach(function (box) { box.addEventListener("change", keep); });
  }

  function start() {
    var redraws = drawLineCharts();
    drawProgress();
    drawParams();
    tableSelection();
    live(redraws);
    window.ekCharts = charts;  // for the browser tests
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
