// The live log (rows pushed over a WebSocket) and the request detail page.
import { Unauthorized, api, el, signOut, state, wsUrl } from "./app.js";

const rows = new Map(); // log id -> row, newest first in the table
let newest = null;
let live = null;
let loaded = false;
const listeners = new Set();

/** Call fn(rows) whenever new rows arrive (charts refresh on it). */
export function onRows(fn) { listeners.add(fn); return () => listeners.delete(fn); }

function fmtTime(t) { return new Date(t * 1000).toLocaleTimeString([], { hour12: false }) + "." + String(Math.floor((t % 1) * 1000)).padStart(3, "0"); }
function fmtMs(ms) { return ms == null ? "–" : ms < 10 ? ms.toFixed(1) + " ms" : Math.round(ms) + " ms"; }
function fmtCost(usd) {
  return usd == null ? "–" : "$" + (usd < 0.01 ? usd.toPrecision(2) : usd.toFixed(4));
}

function statusPill(r) {
  const label = r.cancelled ? "cancelled" : r.cached ? `${r.status} cached` : String(r.status || "–");
  return el("span", { class: "pill " + (r.success ? (r.cached ? "info" : "ok") : "bad"), text: label });
}

function rowNode(r, fresh) {
  return el("tr", { class: fresh ? "fresh" : null, "data-id": r.id },
    el("td", {}, el("a", { href: "#log/" + encodeURIComponent(r.id), title: "Open request " + r.id, text: fmtTime(r.created_at) })),
    el("td", { text: r.provider || "–" }),
    el("td", { text: r.model || "–" }),
    el("td", {}, statusPill(r)),
    el("td", { class: "num", text: fmtMs(r.duration_ms) }),
    el("td", { class: "num", text: `${r.tokens_in ?? "–"} / ${r.tokens_out ?? "–"}` }),
    el("td", { text: r.type + (r.stream ? " · stream" : "") }));
}

function addRows(list, fresh) {
  const body = document.querySelector("#log-table tbody");
  for (const r of list) {
    if (rows.has(r.id)) continue;
    rows.set(r.id, r);
    if (!newest || r.id > newest) newest = r.id;
    body.prepend(rowNode(r, fresh));
  }
  while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
  document.getElementById("logs-empty").hidden = rows.size > 0;
}

export async function showLogs() {
  if (loaded) return;
  const page = await api("/ui/api/logs?limit=100");
  addRows(page.rows.slice().reverse(), false);
  loaded = true;
}

/** Open the live WebSocket (token in the subprotocol, with aigw.console.v1 next to it). */
export function startLive() {
  if (live) return;
  const indicator = document.getElementById("live-state");
  const url = wsUrl("/ui/api/live" + (newest ? "?after=" + encodeURIComponent(newest) : ""));
  const ws = new WebSocket(url, ["cf-aig-authorization." + state.token, "aigw.console.v1"]);
  live = ws;
  ws.onopen = () => { indicator.textContent = "live"; indicator.classList.add("on"); };
  ws.onmessage = async (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type !== "logs") return;
    if (!loaded) await showLogs().catch(() => {});
    addRows(msg.rows, true);
    for (const fn of listeners) fn(msg.rows);
  };
  ws.onclose = (event) => {
    indicator.textContent = "offline"; indicator.classList.remove("on");
    if (live !== ws) return;
    live = null;
    if (!state.token) return;
    // A refused upgrade (bad token) closes before it opened: check the token before retrying.
    setTimeout(() => { api("/ui/api/info").then(startLive, (err) => signOut(String(err.message))); }, 2000);
  };
}

export function stopLive() { if (live) { const ws = live; live = null; ws.close(); } }

function body(title, b) {
  const box = el("section", { class: "card", "aria-label": title }, el("h2", { class: "small", text: title }));
  if (!b) box.append(el("p", { class: "muted", text: "Not collected." }));
  else if (b.text == null) box.append(el("p", { class: "muted", text: `${b.size} bytes: ${b.note}` }));
  else {
    box.append(el("pre", { class: "body", tabindex: "0" }, b.text));
    box.append(el("p", { class: "muted small", text: `${b.size} bytes${b.truncated ? " (cut for display)" : ""}` }));
  }
  return box;
}

export async function showLog(id) {
  const target = document.getElementById("log-detail");
  target.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
  let d;
  try { d = await api("/ui/api/logs/" + encodeURIComponent(id)); }
  catch (err) { if (err instanceof Unauthorized) throw err; target.replaceChildren(el("p", { class: "error", text: err.message })); return; }
  document.getElementById("log-title").textContent = `${d.provider || "?"} · ${d.model || "?"}`;
  const facts = [
    ["Status", statusPill(d)], ["Log id", d.id], ["Event id", d.event_id || "–"], ["When", new Date(d.created_at * 1000).toLocaleString()],
    ["Kind", d.type + (d.stream ? " (stream)" : "")], ["Endpoint", d.endpoint || "–"], ["Step", d.step ?? "–"],
    ["Duration", fmtMs(d.duration_ms)], ["First byte", fmtMs(d.ttfb_ms)],
    ["Tokens in", d.tokens_in ?? "–"], ["Tokens out", d.tokens_out ?? "–"], ["Cost", fmtCost(d.cost)], ["Cache", d.cached ? "hit" : "miss"],
  ];
  if (d.error) facts.push(["Error", d.error]);
  for (const [k, v] of Object.entries(d.metadata || {})) facts.push(["metadata." + k, String(v)]);
  const grid = el("dl", { class: "grid", id: "log-facts" }, ...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", {}, v))));
  const attempts = el("table", { class: "table", id: "log-attempts" },
    el("caption", { class: "sr-only", text: "Upstream attempts" }),
    el("thead", {}, el("tr", {}, ...["Step", "Attempt", "Provider", "Model", "Status", "Duration", "Error"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...d.attempts.map((a) => el("tr", {},
      el("td", { text: a.step }), el("td", { text: a.attempt }), el("td", { text: a.provider }), el("td", { text: a.model || "–" }),
      el("td", { text: a.status || "–" }), el("td", { class: "num", text: fmtMs(a.duration_ms) }), el("td", { text: a.error || "" })))));
  target.replaceChildren(
    el("section", { class: "card" }, grid),
    el("section", { class: "card flush", "aria-label": "Attempts" }, d.attempts.length ? attempts : el("p", { class: "empty muted", text: "No upstream attempt (answered by the gateway)." })),
    el("div", { class: "bodies" }, body("Request body", d.request_body), body("Response body", d.response_body)));
}
