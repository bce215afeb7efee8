// Shared helpers for every page: the navigation bar, API calls with readable errors, task list.
"use strict";
const PAGES = [["draw", "Draw"], ["camera", "Live camera"], ["upload", "Upload"], ["label", "Label"], ["runs", "Runs"]];

function nav(active) {
  const h = document.createElement("header");
  h.innerHTML = "<b>glancekit</b>" + PAGES.map(([p, t]) =>
    `<a href="/${p}" class="${p === active ? "active" : ""}">${t}</a>`).join("") +
    '<a href="/docs" style="margin-left:auto">API docs</a>';
  document.body.prepend(h);
}

async function api(path, options) {
  const r = await fetch(path, options);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : r.statusText;
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return body;
}

async function predictBlob(task, blob, filename) {
  const fd = new FormData();
  fd.append("image", blob, filename || "image.png");
  return api(`/api/predict/${encodeURIComponent(task)}`, { method: "POST", body: fd });
}

async function taskOptions(select, preferred) {
  const tasks = await api("/api/tasks");
  select.innerHTML = "";
  for (const t of tasks) {
    const o = document.createElement("option");
    o.value = t.name;
    o.textContent = t.available ? t.name : `${t.name} (unavailable: no weights yet)`;
    o.disabled = !t.available;
    select.appendChild(o);
  }
  const pick = (preferred || []).find(n => tasks.some(t => t.name === n && t.available)) ||
    (tasks.find(t => t.available) || {}).name;
  if (pick) select.value = pick;
  return tasks;
}

function esc(s) { return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

// The hand skeleton (21 points: wrist, then 4 per finger thumb→little), drawn over an image or video.
const SKELETON = [[0,1],[1,2],[2,3],[3,4],[0,5],[5,6],[6,7],[7,8],[5,9],[9,10],[10,11],[11,12],[9,13],[13,14],[14,15],[15,16],[13,17],[0,17],[17,18],[18,19],[19,20]];
function drawKeypoints(ctx, points, sx, sy) {
  ctx.lineWidth = 2; ctx.strokeStyle = "#00e5ff"; ctx.fillStyle = "#ff3d00";
  for (const [a, b] of SKELETON) {
    if (!points[a] || !points[b]) continue;
    ctx.beginPath(); ctx.moveTo(points[a][0] * sx, points[a][1] * sy); ctx.lineTo(points[b][0] * sx, points[b][1] * sy); ctx.stroke();
  }
  for (const p of points) { ctx.beginPath(); ctx.arc(p[0] * sx, p[1] * sy, 3, 0, 7); ctx.fill(); }
}

// Every object a whole-photo prediction found (response.objects_key names them, e.g. "hands"): its box, its
// answer and confidence, and its skeleton where it has keypoints. sx, sy: canvas pixels per image pixel.
function drawObjects(ctx, objects, sx, sy) {
  ctx.save();
  ctx.font = "bold 14px sans-serif";
  for (const o of objects || []) {
    const [x0, y0, x1, y1] = o.box;
    if (o.keypoints) drawKeypoints(ctx, o.keypoints, sx, sy);
    ctx.lineWidth = 3; ctx.strokeStyle = "#ffd600";
    ctx.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
    const text = `${o.label} ${(o.confidence * 100).toFixed(0)}%`;
    const w = ctx.measureText(text).width + 8, ty = Math.max(18, y0 * sy);
    ctx.fillStyle = "rgba(0,0,0,.7)"; ctx.fillRect(x0 * sx, ty - 17, w, 18);
    ctx.fillStyle = "#ffd600"; ctx.fillText(text, x0 * sx + 4, ty - 4);
    if (o.hour !== undefined) {  // a clock: the read time as a small dial in the box's corner
      const r = Math.max(10, Math.min((x1 - x0) * sx, (y1 - y0) * sy) * 0.16);
      drawDial(ctx, x1 * sx - r - 3, y0 * sy + r + 3, r, o.hour, o.minute);
    }
  }
  ctx.restore();
}

// The objects of a whole-photo response, or null for a one-answer task.
function foundObjects(r) { return r.objects_key ? (r.prediction[r.objects_key] || []) : null; }

// A short human summary of any task's prediction, plus task-specific detail HTML.
function describe(task, pred) {
  let detail = "";
  if (pred.top && pred.top.length) {
    detail = '<table class="bars">' + pred.top.map(([n, p]) =>
      `<tr><td>${esc(n)}</td><td style="width:120px"><div class="bar" style="width:${Math.round(p * 100)}%"></div></td><td>${(p * 100).toFixed(1)}%</td></tr>`).join("") + "</table>";
  }
  if (typeof pred.threshold === "number" && pred.top && pred.top.length) {
    // Why the answer is what it is: a task with a reject option answers only above its threshold.
    const [best, pb] = pred.top[0], thr = (pred.threshold * 100).toFixed(1), pct = (v) => (v * 100).toFixed(1);
    // The threshold is compared with pred.trust: the top probability, or (digits) the answer's certainty.
    const trust = typeof pred.trust === "number" ? pred.trust : pb, byTop = Math.abs(trust - pb) < 1e-4;
    if (byTop) {
      detail += pred.index === -1
        ? `<div class="why" data-rejected="1">${esc(pred.label)}: the best guess, ${esc(best)}, has ${pct(pb)}%, under the threshold of ${thr}%</div>`
        : `<div class="why">answered: ${pct(pb)}% is over the threshold of ${thr}% (below it: unsure)</div>`;
    } else {
      detail += pred.index === -1
        ? `<div class="why" data-rejected="1">${esc(pred.label)}: the best guess is ${esc(best)} (${pct(pb)}%), but the answer's certainty, ${pct(trust)}%, is under the threshold of ${thr}%</div>`
        : `<div class="why">answered: the certainty, ${pct(trust)}%, is over the threshold of ${thr}% (below it: unsure)</div>`;
    }
  }
  if (task === "eyes") {
    detail = `<div>p(open) ${(pred.open_prob * 100).toFixed(1)}%</div><div style="width:150px;background:#ddd"><div class="bar" style="width:${Math.round(pred.open_prob * 100)}%"></div></div>`;
  }
  return { label: pred.label, confidence: pred.confidence, detail };
}

// A small analog dial showing a read time (clock task).
function drawDial(ctx, x, y, r, hour, minute) {
  ctx.save(); ctx.strokeStyle = "#fff"; ctx.fillStyle = "rgba(0,0,0,.55)";
  ctx.beginPath(); ctx.arc(x, y, r, 0, 7); ctx.fill();
  const hand = (ang, len, w) => { ctx.lineWidth = w; ctx.beginPath(); ctx.moveTo(x, y);
    ctx.lineTo(x + Math.sin(ang) * len, y - Math.cos(ang) * len); ctx.stroke(); };
  hand(((hour % 12) + minute / 60) / 12 * 2 * Math.PI, r * 0.5, 4);
  hand(minute / 60 * 2 * Math.PI, r * 0.85, 2);
  ctx.restore();
}
