// pcapstore serve's page: the range, the histogram from the flow records
// where the server has them, else from the sidecar indexes, a tcpdump query validated as it is typed, its count with
// progress, the top talkers and conversations, and the pcap download.
// Plain JavaScript against the same server's API; no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const BUCKETS = 120;
let hist = null;      // the last /api/histogram answer
let storeEnd = null;  // the latest packet time the indexes know (ms)
let validated = 0;    // sequence of the validation in flight
let running = null;   // AbortController of the search in flight
let searches = 0;     // searches started; #count's data-search is the one shown

function params(extra) {
  const p = new URLSearchParams();
  if ($("q").value.trim()) p.set("q", $("q").value.trim());
  if ($("start").value.trim()) p.set("start", $("start").value.trim());
  if ($("end").value.trim()) p.set("end", $("end").value.trim());
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p;
}

function iso(ms) { return new Date(ms).toISOString(); }

function size(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + " GB";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + " MB";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + " kB";
  return n + " B";
}

async function loadHistogram(first) {
  const p = new URLSearchParams({ buckets: BUCKETS });
  if (!first) {
    if ($("start").value.trim()) p.set("start", $("start").value.trim());
    if ($("end").value.trim()) p.set("end", $("end").value.trim());
  }
  const r = await fetch("/api/histogram?" + p);
  if (!r.ok) { $("hist-note").textContent = await r.text(); return; }
  hist = await r.json();
  const startMs = Date.parse(hist.start);
  const endMs = startMs + hist.stepNs * BUCKETS / 1e6;
  if (first) {
    storeEnd = endMs;
    if (hist.captures > 0) {
      $("start").value = iso(startMs);
      $("end").value = iso(endMs - 1);
    }
  }
  $("axis-start").textContent = iso(startMs);
  $("axis-end").textContent = iso(endMs);
  let note = `${hist.captures} indexed captures` +
    (hist.unindexed ? `, ${hist.unindexed} without an index (not shown; pcapstore index builds them)` : "");
  if (hist.flows) {
    note = `from ${hist.flows.records} flow records in ${hist.flows.files} ${hist.flows.files === 1 ? "file" : "files"}` +
      (hist.flows.failed.length ? ` (${hist.flows.failed.length} could not be read: ${hist.flows.failed.join("; ")})` : "") +
      `; ${note}`;
  }
  if (hist.failed.length) note += `; incomplete, not answered by ${hist.failed.join("; ")}`;
  $("hist-note").textContent = note;
  $("histogram").dataset.source = hist.flows ? "flows" : "indexes";
  drawHistogram(null);
}

function drawHistogram(matches) {
  const svg = $("histogram");
  const metric = document.querySelector("input[name=metric]:checked").value;
  // Flow records, where there are any, are finer than the indexes (a
  // flow spans seconds, a capture minutes).
  const series = hist && hist.flows ? hist.flows : hist;
  const vals = series ? series[metric] : [];
  const max = Math.max(1, ...vals, ...(matches || []));
  svg.setAttribute("viewBox", `0 0 ${BUCKETS} 100`);
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const startMs = hist ? Date.parse(hist.start) : 0;
  const stepMs = hist ? hist.stepNs / 1e6 : 0;
  vals.forEach((v, i) => {
    const h = 100 * v / max;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", i + 0.1); rect.setAttribute("width", 0.8);
    rect.setAttribute("y", 100 - h); rect.setAttribute("height", h);
    const title = document.createElementNS(ns, "title");
    title.textContent = `${iso(startMs + i * stepMs)}: ${Math.round(v)} ${metric}`;
    rect.appendChild(title);
    rect.addEventListener("click", () => {
      $("start").value = iso(startMs + i * stepMs);
      $("end").value = iso(startMs + (i + 1) * stepMs - 1);
      loadHistogram(false);
      validate();
    });
    svg.appendChild(rect);
  });
  if (matches && metric === "packets") {
    matches.forEach((v, i) => {
      const h = 100 * v / max;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("class", "match");
      rect.setAttribute("x", i + 0.3); rect.setAttribute("width", 0.4);
      rect.setAttribute("y", 100 - h); rect.setAttribute("height", h);
      svg.appendChild(rect);
    });
  }
}

// validate asks the server whether the query compiles, as it is typed.
async function validate() {
  const seq = ++validated;
  const r = await fetch("/api/validate?" + params());
  const v = await r.json();
  if (seq !== validated) return; // a later keystroke answered
  const box = $("validation"), q = $("q");
  if (r.ok) {
    box.className = "ok";
    box.textContent = "✓ " + (v.expr ? `tcpdump: ${v.expr}` : "every packet");
    q.className = "valid";
    $("search").disabled = false;
  } else {
    box.className = "error";
    box.textContent = v.error;
    q.className = "invalid";
    $("search").disabled = true;
  }
  return r.ok;
}

let timer = null;
function validateSoon() {
  clearTimeout(timer);
  timer = setTimeout(validate, 250);
  setDownload(null);
}

function setDownload(href) {
  const a = $("download");
  if (href) {
    a.href = href;
    a.setAttribute("download", "");
    a.classList.remove("disabled");
    a.setAttribute("aria-disabled", "false");
  } else {
    a.removeAttribute("href");
    a.classList.add("disabled");
    a.setAttribute("aria-disabled", "true");
  }
}

function fillTable(id, rows, cells) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    for (const c of cells(row)) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    return tr;
  }));
}

// search streams /api/summary: progress lines, then the result.
async function search(ev) {
  ev.preventDefault();
  if (!(await validate())) return;
  if (running) running.abort();
  running = new AbortController();
  const p = params({ buckets: BUCKETS });
  const seq = ++searches;
  $("progress").textContent = "searching…";
  $("count").textContent = "";
  delete $("count").dataset.matched;
  setDownload(null);
  let done = null;
  try {
    const r = await fetch("/api/summary?" + p, { signal: running.signal });
    if (!r.ok) { $("progress").textContent = (await r.json()).error; return; }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.progress) {
          const g = msg.progress;
          $("progress").textContent = `${g.FilesDone}/${g.Files} captures, ${size(g.BytesDone)} of ${size(g.Bytes)} read, ${g.Matched} packets matched so far`;
        } else if (msg.done) {
          done = msg.done;
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") $("progress").textContent = "failed: " + e;
    return;
  }
  if (!done) { $("progress").textContent = "the answer was cut short"; return; }
  const s = done.summary;
  $("progress").textContent = `${s.captures} captures (${s.scanned} scanned, ${s.pruned} pruned by their index), ${s.packets} packets read` +
    (s.status === "incomplete" ? ` — INCOMPLETE: ${s.failed.map((f) => f.path + ": " + f.error).join("; ")}` : "") +
    (s.status === "failed" ? ` — FAILED: ${s.error}` : "");
  $("count").innerHTML = "";
  $("count").append(`${s.matched} packets (${size(s.matchedBytes)}) match`);
  $("count").dataset.matched = s.matched;
  $("count").dataset.search = seq;
  fillTable("talkers", done.talkers, (t) => [t.a, t.packets, size(t.bytes)]);
  fillTable("conversations", done.conversations, (t) => [t.a, t.b, t.packets, size(t.bytes)]);
  if (done.histogram) {
    drawHistogram(done.histogram.packets);
    $("hist-note").textContent += "; orange: the packets that match, counted exactly";
  }
  setDownload("/query?" + params());
}

function lastStored(seconds) {
  if (storeEnd === null) return;
  $("start").value = iso(storeEnd - seconds * 1000);
  $("end").value = iso(storeEnd - 1);
  loadHistogram(false);
  validateSoon();
}

document.querySelectorAll("button[data-last]").forEach((b) =>
  b.addEventListener("click", () => lastStored(Number(b.dataset.last))));
$("all").addEventListener("click", () => { $("start").value = ""; $("end").value = ""; loadHistogram(true); validateSoon(); });
for (const id of ["start", "end"]) $(id).addEventListener("change", () => { loadHistogram(false); validateSoon(); });
$("q").addEventListener("input", validateSoon);
$("query-form").addEventListener("submit", search);
document.querySelectorAll("input[name=metric]").forEach((r) => r.addEventListener("change", () => drawHistogram(null)));
loadHistogram(true).then(validate);
