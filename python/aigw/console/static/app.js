// The console shell: sign-in (token in sessionStorage only), hash routing, the API helper.
import { showLogs, showLog, startLive, stopLive } from "./logs.js";
import { showCharts } from "./charts.js";
import { showPlayground } from "./playground.js";

const TOKEN_KEY = "aigw.console.token";
export const state = { token: sessionStorage.getItem(TOKEN_KEY), info: null };

export class Unauthorized extends Error {}

/** GET a console API path with the token; JSON back, or Unauthorized / Error. */
export async function api(path) {
  const resp = await fetch(path, { headers: { "cf-aig-authorization": "Bearer " + state.token }, cache: "no-store" });
  if (resp.status === 401) throw new Unauthorized("the gateway refused this token");
  const doc = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error((doc && doc.errors && doc.errors[0] && doc.errors[0].message) || `HTTP ${resp.status}`);
  return doc;
}

/** ws(s)://this host + path. */
export function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

/** Create an element: el("td", {class: "num"}, "text", child...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const views = ["login", "logs", "log", "charts", "playground"];

function show(name) {
  for (const v of views) document.getElementById("view-" + v).hidden = v !== name;
  const signedIn = name !== "login";
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("session").hidden = !signedIn;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === name || (name === "log" && a.dataset.view === "logs")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

export function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.info = null;
  stopLive();
  location.hash = "";
  show("login");
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("token").focus();
}

async function route() {
  if (!state.token) { show("login"); return; }
  try {
    if (!state.info) state.info = await api("/ui/api/info");
    startLive();
    const [name, arg] = (location.hash.slice(1) || "logs").split("/");
    if (name === "log" && arg) { show("log"); await showLog(decodeURIComponent(arg)); }
    else if (name === "charts") { show("charts"); await showCharts(); }
    else if (name === "playground") { show("playground"); showPlayground(); }
    else { show("logs"); await showLogs(); }
  } catch (err) {
    if (err instanceof Unauthorized) signOut("That token was refused: " + err.message + ".");
    else console.error(err);
  }
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  state.token = input.value.trim();
  try {
    state.info = await api("/ui/api/info");
  } catch (err) {
    state.token = null;
    document.getElementById("login-error").textContent = err instanceof Unauthorized ? "That token was refused." : "Could not reach the gateway: " + err.message;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  input.value = "";
  document.getElementById("login-error").textContent = "";
  if (!location.hash || location.hash === "#") location.hash = "#logs"; else route();
});
document.getElementById("logout").addEventListener("click", () => signOut(""));
window.addEventListener("hashchange", route);
route();
