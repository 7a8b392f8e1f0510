// The live status page: polls /api/overview once a second and redraws. Served by the job server itself; no other origin.
"use strict";

const refreshMilliseconds = 1000;
let cancelEnabled = false;

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tableId, items, render) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...items.map(item => {
    const row = document.createElement("tr");
    render(row, item);
    return row;
  }));
}

function renderFunctions(functions) {
  fill("functions", functions, (row, f) => {
    row.dataset.function = f.name;
    cell(row, f.name, "name");
    cell(row, f.total, "number total");
    cell(row, f.queuedHigh, "number queued-high");
    cell(row, f.queuedNormal + f.delayed, "number queued-normal");
    cell(row, f.queuedLow, "number queued-low");
    cell(row, f.running, "number running");
    cell(row, f.workers, "number workers");
  });
  document.getElementById("no-functions").hidden = functions.length > 0;
}

function renderWorkers(workers) {
  fill("workers", workers, (row, w) => {
    row.dataset.connection = w.id;
    cell(row, w.id, "number");
    cell(row, w.address);
    cell(row, w.clientId);
    cell(row, w.functions.join(", "), "functions");
    cell(row, w.runningJobs, "number");
  });
}

function renderJobs(jobs) {
  fill("jobs", jobs, (row, j) => {
    row.dataset.handle = j.handle;
    cell(row, j.handle, "handle");
    cell(row, j.function);
    cell(row, j.unique);
    cell(row, j.priority);
    cell(row, j.background ? "yes" : "no");
    cell(row, j.running ? "running" : "queued", "job-state");
    const actions = cell(row, "");
    if (cancelEnabled && !j.running) {
      const button = document.createElement("button");
      button.textContent = "Cancel";
      button.className = "cancel";
      button.addEventListener("click", () => cancelJob(j.handle));
      actions.appendChild(button);
    }
  });
}

async function cancelJob(handle) {
  const token = document.getElementById("admin-token").value;
  const result = document.getElementById("cancel-result");
  const response = await fetch(`/api/jobs/${encodeURIComponent(handle)}/cancel`, {
    method: "POST",
    headers: { "Authorization": `Bearer ${token}` },
  });
  result.textContent = (await response.text()).trim();
  await refresh();
}

// Jobs per second from the once-a-second counter samples: the difference between neighbours over their time apart.
function rates(samples, key) {
  const points = [];
  for (let i = 1; i < samples.length; i++) {
    const seconds = (Date.parse(samples[i].at) - Date.parse(samples[i - 1].at)) / 1000;
    if (seconds > 0) points.push((samples[i][key] - samples[i - 1][key]) / seconds);
  }
  return points;
}

function drawChart(samples) {
  const canvas = document.getElementById("rate-chart");
  const context = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height, margin = 30;
  context.clearRect(0, 0, width, height);
  const submitted = rates(samples, "submitted"), finished = rates(samples, "finished");
  const top = Math.max(1, ...submitted, ...finished);
  context.strokeStyle = "#d7dce3";
  context.fillStyle = "#6b7280";
  context.font = "11px sans-serif";
  context.beginPath();
  context.moveTo(margin, 5);
  context.lineTo(margin, height - margin);
  context.lineTo(width - 5, height - margin);
  context.stroke();
  context.fillText(top.toFixed(top < 10 ? 1 : 0) + "/s", 2, 14);
  context.fillText("0", 18, height - margin);
  context.fillText(`${samples.length} s`, width - 40, height - 10);
  const span = Math.max(1, submitted.length - 1);
  for (const [points, colour] of [[submitted, "#2563eb"], [finished, "#16a34a"]]) {
    context.strokeStyle = colour;
    context.beginPath();
    points.forEach((value, i) => {
      const x = margin + (i / span) * (width - margin - 5);
      const y = height - margin - (value / top) * (height - margin - 10);
      if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    context.stroke();
  }
}

function renderState(overview) {
  const state = document.getElementById("state");
  const readiness = overview.readiness;
  const store = readiness.store.available ? `store ${readiness.store.type}: available` : `store ${readiness.store.type}: UNAVAILABLE (${readiness.store.reason})`;
  state.textContent = `${readiness.ready ? "ready" : "not ready"} · ${store}`;
  state.className = `state ${readiness.ready ? "ready" : "unready"}`;
  document.getElementById("updated").textContent = `updated ${new Date(overview.takenAt).toLocaleTimeString()}`;
  document.getElementById("jobs-submitted").textContent = overview.jobsSubmitted;
  document.getElementById("jobs-finished").textContent = overview.jobsFinished;
}

async function refresh() {
  try {
    const response = await fetch("/api/overview", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const overview = await response.json();
    cancelEnabled = overview.cancelEnabled;
    document.getElementById("cancel-controls").hidden = !cancelEnabled;
    renderState(overview);
    renderFunctions(overview.functions);
    renderWorkers(overview.workers);
    renderJobs(overview.jobs);
    drawChart(overview.rates);
  } catch (error) {
    const state = document.getElementById("state");
    state.textContent = `server unreachable (${error.message})`;
    state.className = "state unready";
  }
}

document.getElementById("cancel-controls").addEventListener("submit", event => event.preventDefault());
refresh();
setInterval(refresh, refreshMilliseconds);
