// The etbench dashboard: draws window.ETBENCH_DATA (data.js, written by `etbench history site`) with uPlot.
// The filter state lives in the URL hash (#device=…&model=…&metric=…), so a view can be linked and reloaded; the
// selects only write the hash. Every chart's <figure> carries data-series and data-points (the lines and points it
// drew); #charts and #normalised carry the totals. Text from the data is only ever set as textContent.
(function () {
  "use strict";
  const D = window.ETBENCH_DATA;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
  const DEFAULT_METRIC = "latency";
  const ALL = "all";
  // Tick steps of the time axis: one point per night, so never finer than a day.
  const DAYS = [1, 2, 7, 14, 30, 91, 182, 365].map((d) => d * 86400);
  const metrics = new Map(D.metrics.map((m) => [m.slug, m]));
  let plots = [];
  let pending = 0;

  function $(id) {
    return document.getElementById(id);
  }

  // "1 run", "3 runs": counts as a person writes them.
  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "style") e.setAttribute("style", v);
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  function link(text, href) {
    return href ? el("a", { href, text, rel: "noopener" }) : el("span", { text });
  }

  // About three significant digits, as the markdown reports print them.
  function num(v) {
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  function day(unixS) {
    return new Date(unixS * 1000).toISOString().slice(0, 10);
  }

  function readState() {
    const p = new URLSearchParams(location.hash.slice(1));
    // point=K:J pins the tooltip on night J (negative: from the newest) of the K-th series chart, for links and tests.
    const [chartIdx, night] = (p.get("point") || "").split(":").map(Number);
    const point = Number.isInteger(chartIdx) && Number.isInteger(night) ? { chart: chartIdx, night } : null;
    return { device: p.get("device") || "", model: p.get("model") || "", metric: p.get("metric") || DEFAULT_METRIC, point };
  }

  function writeState(s) {
    const p = new URLSearchParams();
    if (s.device) p.set("device", s.device);
    if (s.model) p.set("model", s.model);
    if (s.metric !== DEFAULT_METRIC) p.set("metric", s.metric);
    location.hash = p.toString();
  }

  function fillSelect(select, all, values, labels, allValue = "") {
    select.replaceChildren(el("option", { value: allValue, text: all }));
    for (const v of values) select.append(el("option", { value: v, text: labels ? labels(v) : v }));
  }

  function setupFilters() {
    const sorted = (xs) => [...new Set(xs)].sort();
    const devices = sorted(D.series.map((s) => s.device).concat(D.normalised.map((n) => n.device)));
    const models = sorted(D.series.map((s) => s.model).concat(D.normalised.flatMap((n) => [n.candidate, n.reference])));
    const present = D.metrics.filter((m) => D.series.some((s) => s.metrics[m.slug])).map((m) => m.slug);
    fillSelect($("f-device"), "all devices", devices);
    fillSelect($("f-model"), "all models", models);
    fillSelect($("f-metric"), "all metrics", present, (slug) => metrics.get(slug).label, ALL);
    for (const id of ["f-device", "f-model", "f-metric"]) {
      $(id).addEventListener("change", () =>
        writeState({ device: $("f-device").value, model: $("f-model").value, metric: $("f-metric").value }),
      );
    }
  }

  // Aligns lines with their own nights onto one x axis (null where a line has no night); remembers each point's
  // index in its line for the tooltip.
  function align(lines) {
    const xs = [...new Set(lines.flatMap((l) => l.xs))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const data = [xs];
    for (const l of lines) {
      const v = new Array(xs.length).fill(null);
      const lo = new Array(xs.length).fill(null);
      const hi = new Array(xs.length).fill(null);
      l.index = new Array(xs.length).fill(null);
      l.xs.forEach((x, i) => {
        if (l.v[i] == null) return;
        const j = at.get(x);
        v[j] = l.v[i];
        lo[j] = l.lo[i];
        hi[j] = l.hi[i];
        l.index[j] = i;
      });
      data.push(v, lo, hi);
    }
    return data;
  }

  function tooltipRows(lines, idx, unit) {
    const rows = [];
    lines.forEach((l) => {
      const i = l.index[idx];
      if (i == null) return;
      rows.push(el("div", { className: "row" }, el("span", { className: "swatch", style: `background:${l.color}` }), el("b", { text: l.label })));
      rows.push(el("div", { text: `${num(l.v[i])} ${unit} (${l.spread} ${num(l.lo[i])} – ${num(l.hi[i])})` }));
      for (const line of l.describe(i)) rows.push(el("div", { className: line.warn ? "warn" : "", text: line.text }));
    });
    return rows;
  }

  function showTooltip(u, lines, unit) {
    const tip = $("tooltip");
    const idx = u.cursor.idx;
    if (idx == null || u.cursor.left < 0) {
      tip.hidden = true;
      return;
    }
    const rows = tooltipRows(lines, idx, unit);
    if (rows.length === 0) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren(el("div", { text: day(u.data[0][idx]) }), ...rows);
    const box = u.over.getBoundingClientRect();
    tip.hidden = false;
    const left = Math.min(box.left + u.cursor.left + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${box.top + u.cursor.top + 14}px`;
  }

  function drawn() {
    pending -= 1;
    if (pending === 0) document.documentElement.setAttribute("data-ready-ms", performance.now().toFixed(0));
  }

  // One chart: its lines (each with an interval band), in a <figure> that says what it drew.
  // Shows the tooltip of aligned night `night` (negative: counted from the newest) as if the pointer were on it.
  function pin(u, night) {
    const j = night < 0 ? u.data[0].length + night : night;
    const y = u.data.slice(1).map((d) => d[j]).find((v) => v != null);
    if (j < 0 || j >= u.data[0].length || y == null) return;
    u.setCursor({ left: u.valToPos(u.data[0][j], "x"), top: u.valToPos(y, "y") });
  }

  function chart(container, kind, title, caption, lines, unit, extraSeries, pinned) {
    const data = align(lines);
    const points = lines.reduce((n, l) => n + l.index.filter((i) => i != null).length, 0);
    const fig = el("figure", { className: "chart", "data-kind": kind, "data-series": String(lines.length), "data-points": String(points) });
    const legend = el("div", {}, ...lines.map((l) => el("span", { className: "legend-item" }, el("span", { className: "swatch", style: `background:${l.color}` }), l.label)));
    const target = el("div");
    fig.append(el("figcaption", {}, el("div", { className: "title", text: title }), caption ? el("div", { text: caption }) : null, legend), target);
    container.append(fig);
    const series = [{}];
    const bands = [];
    lines.forEach((l, i) => {
      const base = 1 + 3 * i;
      series.push({ label: l.label, stroke: l.color, width: 1.5, spanGaps: true, points: { size: 5 } });
      series.push({ label: `${l.label} lower`, stroke: "transparent", width: 0, spanGaps: true, points: { show: false } });
      series.push({ label: `${l.label} upper`, stroke: "transparent", width: 0, spanGaps: true, points: { show: false } });
      bands.push({ series: [base + 2, base + 1], fill: `${l.color}33` });
    });
    for (const s of extraSeries || []) {
      series.push(s.series);
      data.push(data[0].map(() => s.value));
    }
    pending += 1;
    const plot = new uPlot(
      {
        width: Math.max(480, fig.clientWidth - 16),
        height: 220,
        series,
        bands,
        legend: { show: false },
        padding: [12, 40, 0, 0],
        scales: { x: { time: true } },
        axes: [{ space: 70, incrs: DAYS, values: (u, splits) => splits.map(day) }, { label: unit, size: 64 }],
        hooks: {
          setCursor: [(u) => showTooltip(u, lines, unit)],
          draw: [
            (u) => {
              if (!fig.hasAttribute("data-drawn")) {
                fig.setAttribute("data-drawn", "1");
                // After this commit: uPlot resets the cursor at its end.
                if (pinned != null) queueMicrotask(() => pin(u, pinned));
                drawn();
              }
            },
          ],
        },
      },
      data,
      target,
    );
    plots.push(plot);
    return points;
  }

  function describeNight(infoIdx) {
    return (i) => {
      const info = D.infos[infoIdx[i]];
      const out = [];
      out.push({ text: `${plural(info.runs, "run", "runs")} · etbench ${info.etbench} · ExecuTorch ${info.executorch}` });
      if (info.commit) out.push({ text: `commit ${info.commit.slice(0, 12)}${info.run_url ? " · CI run " + info.run_url : ""}` });
      if (info.host || info.runner_name) out.push({ text: [info.host && `host ${info.host}`, info.runner_name && `runner ${info.runner_name}`].filter(Boolean).join(" · ") });
      for (const w of info.warnings) out.push({ text: `⚠ ${w}`, warn: true });
      return out;
    };
  }

  function renderSeries(state) {
    const box = $("charts");
    const groups = new Map();
    for (const s of D.series) {
      if ((state.device && s.device !== state.device) || (state.model && s.model !== state.model)) continue;
      const k = `${s.device}\u0000${s.model}`;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(s);
    }
    let nSeries = 0;
    let nPoints = 0;
    let nCharts = 0;
    for (const group of groups.values()) {
      for (const m of D.metrics) {
        if (state.metric !== ALL && state.metric !== m.slug) continue;
        const withMetric = group.filter((s) => s.metrics[m.slug]);
        if (withMetric.length === 0) continue;
        const lines = withMetric.map((s, i) => {
          const line = s.metrics[m.slug];
          return {
            label: s.variant,
            color: COLORS[i % COLORS.length],
            xs: s.nights,
            v: line.v,
            lo: line.lo,
            hi: line.hi,
            spread: line.spread,
            describe: describeNight(s.info),
          };
        });
        const spreads = [...new Set(lines.map((l) => l.spread))].join(", ");
        const label = withMetric[0].metrics[m.slug].label || m.label;
        const title = `${group[0].device} · ${group[0].model} · ${label}`;
        const caption = `${m.smaller_is_better ? "lower" : "higher"} is better · band: ${spreads}`;
        const pinned = state.point && state.point.chart === nCharts ? state.point.night : null;
        nPoints += chart(box, "series", title, caption, lines, m.unit, [], pinned);
        nCharts += 1;
        nSeries += lines.length;
      }
    }
    if (nSeries === 0) box.append(el("p", { className: "empty", text: "No series match these filters." }));
    box.setAttribute("data-series", String(nSeries));
    box.setAttribute("data-points", String(nPoints));
  }

  function renderNormalised(state) {
    const box = $("normalised");
    let nSeries = 0;
    let nPoints = 0;
    const shown = state.metric === ALL || state.metric === "latency";
    for (const n of shown ? D.normalised : []) {
      if (state.device && n.device !== state.device) continue;
      if (state.model && n.candidate !== state.model && n.reference !== state.model) continue;
      const line = {
        label: `${n.candidate} ÷ ${n.reference}`,
        color: COLORS[0],
        xs: n.nights,
        v: n.v,
        lo: n.lo,
        hi: n.hi,
        spread: "95% CI",
        describe: (i) => [{ text: plural(n.pairs[i], "paired round", "paired rounds") }],
      };
      const one = { series: { label: "1×", stroke: "#888", width: 1, dash: [4, 4], points: { show: false } }, value: 1 };
      nPoints += chart(box, "normalised", `${n.candidate} ÷ ${n.reference}`, `${n.setting} · 1× = ${n.reference}`, [line], "× reference", [one]);
      nSeries += 1;
    }
    $("normalised-section").hidden = D.normalised.length === 0;
    box.setAttribute("data-series", String(nSeries));
    box.setAttribute("data-points", String(nPoints));
  }

  function renderRegressions(state) {
    const list = $("regressions");
    list.replaceChildren();
    $("rule").textContent = `history check: ${D.checked} series judged; ${D.rule}.`;
    const shown = D.regressions.filter(
      (r) => (!state.device || r.device === state.device) && (!state.model || r.model === state.model),
    );
    for (const r of shown) {
      const links = [];
      if (r.commit) links.push(" · commit ", link(r.commit.slice(0, 12), r.commit_url));
      if (r.run_url) links.push(" · ", link("CI run", r.run_url));
      list.append(
        el(
          "li",
          { title: r.series, "data-metric": r.metric },
          el("span", { className: "verdict", text: r.verdict }),
          ` · ${r.device} · ${r.model} · ${r.metric} · on ${r.night}`,
          ...links,
        ),
      );
    }
    if (shown.length === 0) list.append(el("li", { className: "none", text: "No regressions." }));
    list.setAttribute("data-count", String(shown.length));
  }

  function render() {
    const state = readState();
    $("f-device").value = state.device;
    $("f-model").value = state.model;
    $("f-metric").value = state.metric;
    for (const p of plots) p.destroy();
    plots = [];
    pending = 0;
    document.documentElement.removeAttribute("data-ready-ms");
    $("charts").replaceChildren();
    $("normalised").replaceChildren();
    renderRegressions(state);
    renderSeries(state);
    renderNormalised(state);
    if (pending === 0) document.documentElement.setAttribute("data-ready-ms", performance.now().toFixed(0));
  }

  function summary() {
    const nights = new Set(D.series.flatMap((s) => s.nights));
    const devices = new Set(D.series.map((s) => s.device));
    $("summary").textContent =
      `${D.series.length} series · ${plural(devices.size, "device", "devices")} · ${plural(nights.size, "night", "nights")} · from ${D.source} · generated ${D.generated_at}`;
  }

  summary();
  setupFilters();
  window.addEventListener("hashchange", render);
  render();
})();
