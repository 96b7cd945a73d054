// raftkv's status page: polls /v1/status (the cluster as this member sees it) and this
// member's /metrics every second, and renders the member table, the leader changes seen
// and two charts over the last five minutes. Plain script, no build step.
"use strict";

(function () {
  const POLL_MS = 1000;
  const WINDOW_MS = 5 * 60 * 1000;
  const FETCH_TIMEOUT_MS = 3000;

  const byId = (id) => document.getElementById(id);
  const state = {
    leader: "",          // the leader of the last answer ("" when none was known)
    lastKnownLeader: "", // the last leader seen, the "old" side of the next change
    names: new Map(),    // member id -> name
    metrics: null,       // {t, sums} of the previous /metrics scrape
    leaderApplied: null, // {t, id, applied} of the previous /v1/status
    throughput: [],      // [{t, v}] within WINDOW_MS
    throughputSource: "",
    latency: [],
    latencySeen: false,
    charts: null,
  };

  // ---- Prometheus text, minimally: the sum over every label set of each sample name.
  function parseMetrics(text) {
    const sums = new Map();
    for (const line of text.split("\n")) {
      if (line === "" || line[0] === "#") continue;
      const m = line.match(/^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)/);
      if (!m) continue;
      const v = Number(m[3]);
      if (!Number.isFinite(v)) continue;
      sums.set(m[1], (sums.get(m[1]) || 0) + v);
    }
    return sums;
  }

  async function fetchWithTimeout(url) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      return await fetch(url, { signal: ctl.signal, cache: "no-store" });
    } finally {
      clearTimeout(timer);
    }
  }

  function name(id) {
    return state.names.get(id) || id || "none";
  }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- the member table
  function healthCells(m) {
    const score = el("td", { class: "num", "data-field": "health" });
    const reasons = el("td", { "data-field": "reasons" });
    if (!m.health) {
      score.textContent = "n/a";
      score.title = m.health_error || "this member does not answer Admin.Health";
      return [score, reasons];
    }
    const s = m.health.score;
    score.appendChild(el("span", { class: "score " + (s >= 90 ? "good" : s >= 50 ? "warn" : "bad") },
                         String(s)));
    if (m.health.reasons.length > 0) {
      const ul = el("ul", { class: "reasons" });
      for (const r of m.health.reasons) {
        ul.appendChild(el("li", { "data-input": r.input },
                          `${r.input}: ${r.detail} (threshold ${r.threshold}, -${r.penalty})`));
      }
      reasons.appendChild(ul);
    }
    return [score, reasons];
  }

  function renderMembers(st) {
    const tbody = byId("members").querySelector("tbody");
    tbody.replaceChildren();
    for (const m of st.members) {
      const isLeader = m.up && m.id === st.leader;
      const tr = el("tr", {
        "data-member-id": m.id,
        "data-name": m.name,
        "data-up": String(m.up),
        "data-role": m.up ? m.role : "down",
        "data-leader": String(isLeader),
      });
      tr.appendChild(el("td", {}, (m.name || "(unnamed)") + (isLeader ? " \u2605" : "") +
                                  (m.id === st.self ? " (this page)" : "")));
      tr.appendChild(el("td", { class: "id" }, m.id));
      const stateCell = el("td");
      stateCell.appendChild(el("span", { class: "badge " + (m.up ? "up" : "down") },
                               m.up ? "up" : "down"));
      if (!m.up && m.error) stateCell.title = m.error;
      tr.appendChild(stateCell);
      const role = m.up ? m.role + (m.learner ? " (learner)" : "") : "-";
      tr.appendChild(el("td", { "data-field": "role" }, isLeader ? role + " \u2605" : role));
      for (const f of ["term", "commit", "applied", "lag"]) {
        tr.appendChild(el("td", { class: "num", "data-field": f }, m.up ? String(m[f]) : "-"));
      }
      for (const c of healthCells(m)) tr.appendChild(c);
      tbody.appendChild(tr);
    }
    const summary = byId("summary");
    summary.dataset.leader = st.leader;
    summary.dataset.members = String(st.members.length);
    const up = st.members.filter((m) => m.up).length;
    summary.textContent = `${st.members.length} members, ${up} up; ` +
        (st.leader ? `leader ${name(st.leader)} (term ${st.term})` : "no leader");
  }

  // ---- leader changes, as this page sees them between two answers
  function trackLeader(st, now) {
    if (st.leader !== "" && st.leader !== state.lastKnownLeader) {
      const old = state.lastKnownLeader;
      const li = el("li", {
        "data-kind": old ? "change" : "first",
        "data-old": old,
        "data-new": st.leader,
        "data-term": String(st.term),
      }, `${now.toLocaleTimeString()}  term ${st.term}: ` +
         (old ? `${name(old)} \u2192 ${name(st.leader)}` : `leader is ${name(st.leader)}`));
      byId("events").appendChild(li);
      state.lastKnownLeader = st.leader;
    }
    state.leader = st.leader;
  }

  // ---- charts
  function prune(series, t) {
    while (series.length > 0 && series[0].t < t - WINDOW_MS) series.shift();
  }

  function setupCharts() {
    if (typeof Chart === "undefined") {
      byId("charts-missing").hidden = false;
      return null;
    }
    const make = (id, label, color) => new Chart(byId(id), {
      type: "line",
      data: { labels: [], datasets: [{ label, data: [], borderColor: color, pointRadius: 0,
                                       borderWidth: 1.5, spanGaps: false, tension: 0 }] },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
                 plugins: { legend: { display: false } },
                 scales: { x: { ticks: { maxTicksLimit: 6 } },
                           y: { beginAtZero: true,
                                ticks: { callback: (v) => Number(v.toPrecision(3)).toString() } } } },
    });
    return { throughput: make("throughput", "ops/s", "#2f6fb3"),
             latency: make("latency", "seconds", "#b3562f") };
  }

  function draw(chart, series, hasData, noDataId) {
    byId(noDataId).hidden = hasData;
    if (!chart) return;
    chart.data.labels = series.map((p) => new Date(p.t).toLocaleTimeString());
    chart.data.datasets[0].data = series.map((p) => p.v);
    chart.update("none");
  }

  function sampleThroughput(t, sums, st) {
    const applied = "etcd_server_proposals_applied_total";
    const prev = state.metrics;
    if (sums && sums.has(applied)) {
      if (prev && prev.sums.has(applied) && t > prev.t) {
        const v = Math.max(0, sums.get(applied) - prev.sums.get(applied)) / ((t - prev.t) / 1000);
        state.throughput.push({ t, v });
      }
      state.throughputSource = "(from etcd_server_proposals_applied_total)";
      return;
    }
    // Without the counter: the leader's applied index, which every write moves by one.
    const leader = st && st.members.find((m) => m.up && m.id === st.leader);
    if (!leader) return;
    const p = state.leaderApplied;
    if (p && p.id === leader.id && t > p.t) {
      const v = Math.max(0, leader.applied - p.applied) / ((t - p.t) / 1000);
      state.throughput.push({ t, v });
    }
    state.leaderApplied = { t, id: leader.id, applied: leader.applied };
    state.throughputSource = "(from the leader's applied index)";
  }

  function sampleLatency(t, sums) {
    const sum = "grpc_server_handling_seconds_sum";
    const count = "grpc_server_handling_seconds_count";
    const prev = state.metrics;
    if (!sums || !sums.has(sum) || !sums.has(count)) return;
    state.latencySeen = true;
    if (!prev || !prev.sums.has(sum) || !prev.sums.has(count)) return;
    const dc = sums.get(count) - prev.sums.get(count);
    const ds = sums.get(sum) - prev.sums.get(sum);
    state.latency.push({ t, v: dc > 0 ? ds / dc : null });
  }

  // ---- one poll
  async function poll() {
    const now = new Date();
    const t = now.getTime();
    let st = null;
    let sums = null;
    const [stRes, mRes] = await Promise.allSettled([
      fetchWithTimeout("/v1/status").then((r) => {
        if (!r.ok) throw new Error(`/v1/status answered ${r.status}`);
        return r.json();
      }),
      fetchWithTimeout("/metrics").then((r) => (r.ok ? r.text() : null)),
    ]);
    const err = byId("status-error");
    if (stRes.status === "fulfilled") {
      st = stRes.value;
      for (const m of st.members) state.names.set(m.id, m.name);
      renderMembers(st);
      trackLeader(st, now);
      err.hidden = true;
    } else {
      err.textContent = `This member does not answer: ${stRes.reason}`;
      err.hidden = false;
    }
    if (mRes.status === "fulfilled" && mRes.value !== null) sums = parseMetrics(mRes.value);
    sampleThroughput(t, sums, st);
    sampleLatency(t, sums);
    if (sums) state.metrics = { t, sums };
    prune(state.throughput, t);
    prune(state.latency, t);
    byId("throughput-source").textContent = state.throughputSource;
    draw(state.charts && state.charts.throughput, state.throughput, state.throughput.length > 0,
         "throughput-nodata");
    draw(state.charts && state.charts.latency, state.latency,
         state.latencySeen && state.latency.some((p) => p.v !== null), "latency-nodata");
    byId("updated").textContent = "updated " + now.toLocaleTimeString();
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  }

  async function loop() {
    const started = Date.now();
    try {
      await poll();
    } catch (e) {
      byId("status-error").textContent = "status page error: " + e;
      byId("status-error").hidden = false;
    }
    setTimeout(loop, Math.max(0, POLL_MS - (Date.now() - started)));
  }

  state.charts = setupCharts();
  loop();
})();
