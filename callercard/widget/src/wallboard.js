// The supervisors' wallboard page (served by the API at /wallboard): every queue's callers waiting and longest
// wait, agents free / on a call / paused, and today's answered, within the service level, abandoned and average
// wait. First load from GET /api/v1/wallboard, then live from Centrifugo's wallboard:queues, which the screen's
// token (POST /api/v1/wallboard/token) subscribes it to. The credential is a supervisor's or admin's API key,
// given in the form or as #key=… (kept for this tab only).
import { Centrifuge } from "centrifuge";

const $ = (id) => document.getElementById(id);
// "<pbx> <queue>" -> its latest board: two PBXs' queues of the same name are two tiles, each named with its PBX.
const boards = new Map();
const boardKey = (board) => `${board.pbx || ""}\u0000${board.queue}`;
const byQueueThenPbx = (a, b) => a.queue.localeCompare(b.queue) || (a.pbx || "").localeCompare(b.pbx || "");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function credential() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    sessionStorage.setItem("callercard-wallboard-key", fromHash);
    history.replaceState(null, "", location.pathname); // the key leaves the address bar
  }
  return sessionStorage.getItem("callercard-wallboard-key");
}

async function call(method, path) {
  const response = await fetch(path, { method, headers: { Authorization: `Bearer ${credential()}` } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.message || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

const clock = (seconds) => {
  const s = Math.max(0, Math.round(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

function figure(cls, value, label) {
  return el("div", { class: `figure ${cls}` }, el("span", { class: "value", text: String(value) }),
    el("span", { class: "label", text: label }));
}

function queueCard(board, showPbx) {
  const since = board.oldest_waiting_since ? new Date(board.oldest_waiting_since) : null;
  const longest = since ? (Date.now() - since.getTime()) / 1000 : 0;
  const today = board.today || {};
  const within = today.answered ? Math.round((100 * today.answered_within_service_level) / today.answered) : null;
  const agents = board.agents || {};
  const serviceLevel = board.service_level_seconds;
  const name = showPbx && board.pbx ? `${board.queue} · ${board.pbx}` : board.queue;
  return el("section", { class: `queue${board.waiting && longest > serviceLevel ? " alert" : ""}`, "data-queue": board.queue,
    "data-pbx": board.pbx || "", "aria-label": `Queue ${name}` },
    el("h2", { text: name }),
    el("div", { class: "now" }, figure("waiting", board.waiting, "callers waiting"),
      figure("longest", clock(longest), "longest wait")),
    el("div", { class: "agents" },
      el("span", { class: "free" }, el("b", { text: String(agents.free || 0) }), " free"),
      el("span", { class: "on-call" }, el("b", { text: String(agents.on_call || 0) }), " on a call"),
      el("span", { class: "paused" }, el("b", { text: String(agents.paused || 0) }), " paused"),
      agents.unavailable ? el("span", { class: "unavailable" }, el("b", { text: String(agents.unavailable) }), " unavailable") : null),
    el("table", { "aria-label": `Today in ${name}` },
      el("tr", {}, el("th", { text: "Answered today" }), el("td", { class: "answered", text: String(today.answered || 0) })),
      el("tr", {}, el("th", { text: `Answered within ${serviceLevel} s` }),
        el("td", { class: "within", text: `${today.answered_within_service_level || 0}${within === null ? "" : ` (${within}%)`}` })),
      el("tr", {}, el("th", { text: "Abandoned" }), el("td", { class: "abandoned", text: String(today.abandoned || 0) })),
      el("tr", {}, el("th", { text: "Average wait" }),
        el("td", { class: "average", text: today.average_wait_seconds === null || today.average_wait_seconds === undefined ? "–" : clock(today.average_wait_seconds) }))));
}

function render() {
  const queues = [...boards.values()].sort(byQueueThenPbx);
  const showPbx = new Set(queues.map((board) => board.pbx || "")).size > 1;
  $("wallboard").replaceChildren(...(queues.length ? queues.map((board) => queueCard(board, showPbx))
    : [el("p", { class: "empty", text: "No queue has been seen yet." })]));
}

function apply(board) {
  const known = boards.get(boardKey(board));
  if (known && known.seq && board.seq && board.seq < known.seq) return; // an older board than the one shown
  boards.set(boardKey(board), board);
  render();
}

function askForKey(message) {
  sessionStorage.removeItem("callercard-wallboard-key");
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("live").textContent = "";
}

async function start() {
  if (!credential()) return askForKey();
  let first;
  try {
    first = await call("POST", "/api/v1/wallboard/token");
    const now = await call("GET", "/api/v1/wallboard");
    $("meta").textContent = `today ${now.day} (${now.timezone})`;
    for (const board of now.queues) apply(board);
  } catch (error) {
    if (error.status === 401 || error.status === 403) return askForKey(error.message);
    $("live").textContent = `cannot load: ${error.message}`;
    return undefined;
  }
  render();
  const centrifuge = new Centrifuge(first.websocket_url, {
    token: first.token,
    getToken: async () => (await call("POST", "/api/v1/wallboard/token")).token,
  });
  centrifuge.on("publication", (ctx) => { if (ctx.channel === first.channel) apply(ctx.data); });
  centrifuge.on("connected", () => { $("live").textContent = "live"; $("live").dataset.live = "true"; });
  centrifuge.on("disconnected", () => { $("live").textContent = "reconnecting…"; $("live").dataset.live = "false"; });
  centrifuge.connect();
  setInterval(render, 1000); // the longest wait grows by the second
  return centrifuge;
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("callercard-wallboard-key", $("key").value.trim());
  $("login").hidden = true;
  start();
});
start();
