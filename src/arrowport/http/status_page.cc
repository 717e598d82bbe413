// The status page (GET /): one self-contained HTML document. Its first data is inline, so
// it shows everything without a round trip (and in a browser that runs no script); the
// script then redraws it from GET /status every two seconds. Every value is set as text,
// never parsed as HTML: stream names and error messages cannot inject markup.
#include "arrowport/http/status_handlers.h"

namespace arrowport::http {

namespace {

constexpr const char* kPageHead = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Arrowport status</title>
<link rel="icon" href="data:,">
<style>
:root { --fg:#1d2330; --muted:#687387; --line:#e3e7ee; --accent:#2563eb; --bad:#b42318;
        --bg:#f6f8fb; --card:#fff; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:14px 24px; background:#111827; color:#f9fafb; display:flex;
         flex-wrap:wrap; gap:8px 28px; align-items:baseline; }
header h1 { font-size:18px; margin:0 12px 0 0; }
header .kv { color:#cbd5e1; } header .kv b { color:#fff; font-weight:600; }
main { padding:16px 24px; display:grid; gap:16px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px;
          padding:12px 16px; overflow-x:auto; }
h2 { font-size:15px; margin:0 0 8px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:5px 10px 5px 0; border-bottom:1px solid var(--line);
         white-space:nowrap; vertical-align:middle; }
th { color:var(--muted); font-weight:500; font-size:12px; text-transform:uppercase; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.msg { white-space:normal; max-width:560px; word-break:break-word; }
.empty { color:var(--muted); }
.bad { color:var(--bad); font-weight:600; }
svg.chart { display:block; background:#f1f5fb; border-radius:3px; }
svg.chart polyline { fill:none; stroke:var(--accent); stroke-width:1.5; }
#state { color:var(--muted); font-size:12px; }
</style></head>
<body>
<header><h1>Arrowport</h1>
<span class="kv">version <b id="version"></b></span>
<span class="kv">up <b id="uptime"></b></span>
<span class="kv">Flight <b id="flight"></b></span>
<span class="kv">HTTP <b id="http"></b></span>
<span class="kv" id="metrics-kv">metrics <b id="metrics"></b></span>
<span class="kv">database <b id="database"></b></span>
<span class="kv">memory <b id="memory"></b></span>
<span class="kv">storage <b id="storage"></b></span>
<span id="state"></span></header>
<main>
<section><h2>Streams <span class="empty" id="rate-window"></span></h2>
<table><thead><tr><th>stream</th><th>table</th><th>commit</th><th class="num">rows</th>
<th class="num">rows/s</th><th>rows/s, last minutes</th><th class="num">requests</th>
<th class="num">errors</th><th>last write</th></tr></thead><tbody id="streams"></tbody></table>
</section>
<section><h2>Tables</h2>
<table><thead><tr><th>name</th><th>kind</th><th class="num">rows</th><th class="num">size</th>
</tr></thead><tbody id="tables"></tbody></table></section>
<section><h2>Active requests</h2>
<table><thead><tr><th>protocol</th><th>method</th><th>user</th><th>target</th>
<th class="num">rows</th><th class="num">bytes</th><th class="num">running</th></tr></thead>
<tbody id="calls"></tbody></table></section>
<section><h2>Recent errors</h2>
<table><thead><tr><th>time</th><th>protocol</th><th>method</th><th>code</th><th>user</th>
<th>message</th></tr></thead><tbody id="errors"></tbody></table></section>
</main>
<script id="initial" type="application/json">)HTML";

constexpr const char* kPageTail = R"HTML(</script>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n).toLocaleString("en-US");
function bytes(n) {
  if (n === null || n === undefined || n < 0) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}
function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
  const m = Math.floor(s % 3600 / 60), r = s % 60;
  if (d) return d + "d " + h + "h"; if (h) return h + "h " + m + "m";
  if (m) return m + "m " + r + "s"; return r + "s";
}
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}
function fill(id, items, columns, none) {
  const body = $(id);
  body.replaceChildren();
  if (!items || !items.length) {
    const row = body.insertRow();
    const td = cell(row, none, "empty");
    td.colSpan = columns;
    return;
  }
  return items.map((item) => [body.insertRow(), item]);
}
const SVG = "http://www.w3.org/2000/svg";
function chart(series) {
  const w = 240, h = 34, max = Math.max(1, ...series);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("data-max", max);
  const line = document.createElementNS(SVG, "polyline");
  const step = series.length > 1 ? w / (series.length - 1) : w;
  line.setAttribute("points", series.map((v, i) =>
      (i * step).toFixed(1) + "," + (h - 2 - (v / max) * (h - 4)).toFixed(1)).join(" "));
  svg.appendChild(line);
  return svg;
}
// A stream without rows lately comes without its series: all zeros.
function rates(st, span) {
  const series = st.rows_per_second || [];
  return Array(Math.max(0, span - series.length)).fill(0).concat(series.slice(-span));
}
function recent(series, seconds) {
  const tail = series.slice(-seconds);
  return tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : 0;
}
function render(s) {
  $("version").textContent = s.version;
  $("uptime").textContent = duration(s.uptime_s);
  // Server-wide figures are null for a user limited to some tables or streams.
  const ls = s.listeners || {}, db = s.database, proc = s.process;
  $("flight").textContent = ls.flight || "";
  $("http").textContent = ls.http || "";
  $("metrics-kv").hidden = !ls.metrics;
  $("metrics").textContent = ls.metrics || "";
  $("database").textContent = !db ? "" : (db.path ? db.path + ", " : "") +
      bytes(db.size_bytes) + (db.wal_bytes ? " + WAL " + bytes(db.wal_bytes) : "");
  $("memory").textContent = !db || !proc ? "" : "RSS " + bytes(proc.rss_bytes) +
      ", DuckDB " + bytes(db.memory_bytes);
  // "ok", or what happened: a full disk (writes refused), a database being reopened or
  // reopened after DuckDB invalidated it.
  const st = s.storage || {};
  $("storage").textContent = st.summary || "";
  $("storage").style.color = st.state && st.state !== "ok" ? "#c0392b" : "";
  // No rate exists from before the start: a young server's charts span its uptime.
  const span = Math.max(30, Math.min(s.rate_seconds, Math.ceil(s.uptime_s)));
  $("rate-window").textContent = "(rows/s over the last " + span + " s)";
  (fill("streams", s.streams, 9, "no stream has been written yet") || []).forEach(([row, st]) => {
    row.dataset.stream = st.stream;
    cell(row, st.stream);
    // A lake table refused or its store unavailable says so beside its name.
    const lake = st.lake_state && st.lake_state !== "ok";
    // So does upkeep that keeps failing (a full store), with its backoff.
    const up = st.lake_upkeep || {};
    const failing = up.failures_in_a_row > 0;
    const note = (lake ? " (lake " + st.lake_state + ")" : "") +
        (failing ? " (lake upkeep failing: " + up.failures_in_a_row +
                   " in a row, next try in " + up.retry_in_s + " s)" : "");
    const name = cell(row, st.target_table + note, lake || failing ? "bad" : "");
    if (lake && st.lake_error) name.title = st.lake_error;
    else if (failing && up.last_error) name.title = up.last_error;
    // The latest request's mode (a request may choose another than the configured one).
    cell(row, st.last_commit || st.commit, "commit");
    cell(row, fmt(st.rows), "num rows");
    const series = rates(st, span);
    cell(row, fmt(Math.round(recent(series, 10))), "num rate");
    cell(row, "").appendChild(chart(series));
    cell(row, fmt(st.requests) + (st.active_requests ? " + " + fmt(st.active_requests) +
        " running" : ""), "num requests");
    cell(row, fmt(st.errors), st.errors ? "num bad" : "num");
    cell(row, st.last_write || "-", "last-write");
  });
  (fill("tables", s.tables, 4, s.tables_error ? "tables unavailable: " + s.tables_error : "no tables") || []).forEach(([row, t]) => {
    row.dataset.table = t.name;
    cell(row, t.name);
    cell(row, t.kind);
    cell(row, t.rows < 0 ? "-" : fmt(t.rows), "num rows");
    cell(row, bytes(t.bytes), "num size");
  });
  (fill("calls", s.active_calls, 7, "none") || []).forEach(([row, c]) => {
    cell(row, c.protocol);
    cell(row, c.method);
    cell(row, c.user);
    cell(row, c.target || "-");
    cell(row, fmt(c.rows), "num");
    cell(row, bytes(c.bytes), "num");
    cell(row, c.seconds.toFixed(1) + " s", "num");
  });
  const hidden = s.recent_errors === null;
  (fill("errors", s.recent_errors, 6, hidden ? "shown to admins" : "none") || [])
      .forEach(([row, e]) => {
    cell(row, e.time);
    cell(row, e.protocol);
    cell(row, e.method);
    cell(row, e.code, "bad");
    cell(row, e.user);
    cell(row, e.message, "msg");
  });
  $("state").textContent = "updated " + new Date().toLocaleTimeString();
}
// The next refresh is asked for two seconds after the last answer: slow answers never
// pile up, nor arrive out of order.
async function refresh() {
  try {
    const response = await fetch("status", {cache: "no-store", credentials: "same-origin"});
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
  } catch (e) {
    $("state").textContent = "refresh failed: " + e.message;
  }
  setTimeout(refresh, 2000);
}
render(JSON.parse($("initial").textContent));
setTimeout(refresh, 2000);
</script></body></html>
)HTML";

}  // namespace

std::string StatusPageHtml(const std::string& status_json) {
  std::string page = kPageHead;
  // Inside <script>, "</script" would end the element: JSON may write '<' as \u003c
  // (it can only appear inside strings).
  page.reserve(page.size() + status_json.size() + 8000);
  for (const char c : status_json) {
    if (c == '<') {
      page += "\\u003c";
    } else {
      page += c;
    }
  }
  page += kPageTail;
  return page;
}

}  // namespace arrowport::http
