// The playground: several prompts to several providers at once over ONE Universal WebSocket,
// each stream's chunks drawn as they interleave on one timeline.
import { el, state, wsUrl } from "./app.js";
import { COLORS } from "./charts.js";

const NS = "http://www.w3.org/2000/svg";
// How to address each provider natively (the Universal API passes bodies through unchanged).
const SPECS = {
  openai: { model: "gpt-4o-mini", kind: "openai" },
  anthropic: { model: "claude-sonnet-4-5", kind: "anthropic", endpoint: () => "v1/messages" },
  "workers-ai": { model: "@cf/meta/llama-3.1-8b-instruct", kind: "workers", endpoint: (m) => m },
  "google-ai-studio": { model: "gemini-2.5-flash", kind: "google", endpoint: (m) => `v1beta/models/${m}:streamGenerateContent?alt=sse` },
  groq: { model: "llama-3.3-70b-versatile" }, mistral: { model: "mistral-small-latest" }, deepseek: { model: "deepseek-chat" },
  grok: { model: "grok-3-mini" }, cerebras: { model: "llama3.1-8b" }, openrouter: { model: "openai/gpt-4o-mini" },
};
const PROMPTS = [
  "Write a short poem about sockets carrying many voices.",
  "Tell me a joke about a gateway that never sleeps.",
  "Compose a haiku on streams that interleave.",
  "List three facts about multiplexing.",
];
let wired = false;
let lanes = [];
let run = null; // {ws, started, streams: Map(eventId -> lane)}

function spec(provider) { return SPECS[provider] || { model: "", kind: "openai" }; }

/** A Universal step in the provider's own body format. */
export function step(provider, model, prompt) {
  const s = spec(provider);
  const kind = s.kind || "openai";
  const messages = [{ role: "user", content: prompt }];
  let query;
  if (kind === "anthropic") query = { model, max_tokens: 300, messages, stream: true };
  else if (kind === "google") query = { contents: [{ role: "user", parts: [{ text: prompt }] }] };
  else if (kind === "workers") query = { messages, stream: true };
  else query = { model, messages, stream: true, stream_options: { include_usage: true } };
  const endpoint = s.endpoint ? s.endpoint(model) : "chat/completions";
  return { provider, endpoint, headers: {}, query };
}

/** The text of one streamed chunk (or whole answer), whatever the provider's shape. */
export function chunkText(c) {
  if (!c || typeof c !== "object") return "";
  try {
    if (c.choices) return (c.choices[0] && ((c.choices[0].delta && c.choices[0].delta.content) || (c.choices[0].message && c.choices[0].message.content))) || "";
    if (c.type === "content_block_delta") return (c.delta && c.delta.text) || "";
    if (c.content && Array.isArray(c.content)) return c.content.map((p) => p.text || "").join("");
    if (c.candidates) return c.candidates[0].content.parts.map((p) => p.text || "").join("");
    if (typeof c.response === "string") return c.response;
    if (c.result && typeof c.result.response === "string") return c.result.response;
  } catch (_) { /* an unexpected shape shows no text */ }
  return "";
}

function providers() {
  const configured = (state.info && state.info.providers) || [];
  return configured.length ? configured : Object.keys(SPECS);
}

function addLane(provider, prompt) {
  const i = lanes.length;
  const color = COLORS[i % COLORS.length];
  const id = `lane-${i}-${Date.now()}`;
  const select = el("select", { id: id + "-provider", name: "provider" }, ...providers().map((p) => el("option", { value: p, text: p })));
  select.value = provider;
  const model = el("input", { id: id + "-model", name: "model", value: spec(provider).model, spellcheck: "false" });
  select.addEventListener("change", () => { model.value = spec(select.value).model; });
  const text = el("textarea", { id: id + "-prompt", name: "prompt", rows: "2" }, prompt);
  const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
  swatch.style.background = color;
  const remove = el("button", { type: "button", class: "ghost remove", "aria-label": "Remove this prompt", title: "Remove" }, "×");
  const node = el("div", { class: "lane-in" }, swatch,
    el("div", {}, el("label", { for: select.id, text: "Provider" }), select),
    el("div", {}, el("label", { for: model.id, text: "Model" }), model),
    el("div", {}, el("label", { for: text.id, text: "Prompt" }), text), remove);
  const lane = { node, select, model, text, color };
  remove.addEventListener("click", () => { lanes = lanes.filter((l) => l !== lane); node.remove(); });
  lanes.push(lane);
  document.getElementById("pg-lanes").append(node);
}

function drawTimeline() {
  if (!run) return;
  const streams = [...run.streams.values()];
  const rowH = 28, left = 150, W = 900, H = streams.length * rowH + 24;
  const end = Math.max(100, ...streams.map((s) => (s.times.length ? s.times[s.times.length - 1] : 0)));
  const x = (t) => left + (t / end) * (W - left - 16);
  const root = document.createElementNS(NS, "svg");
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  root.setAttribute("role", "img");
  root.setAttribute("aria-label", `${streams.length} streams over ${Math.round(end)} ms`);
  streams.forEach((s, i) => {
    const y = i * rowH + 14;
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", 0); label.setAttribute("y", y + 4);
    label.textContent = `${s.eventId} · ${s.provider}`;
    root.append(label);
    const base = document.createElementNS(NS, "line");
    for (const [k, v] of Object.entries({ x1: left, x2: W - 16, y1: y, y2: y, stroke: "#e9ecef" })) base.setAttribute(k, v);
    root.append(base);
    for (const t of s.times) {
      const tick = document.createElementNS(NS, "rect");
      for (const [k, v] of Object.entries({ x: x(t) - 1, y: y - 8, width: 2.5, height: 16, rx: 1, fill: s.color })) tick.setAttribute(k, v);
      root.append(tick);
    }
  });
  const axis = document.createElementNS(NS, "text");
  axis.setAttribute("x", W - 16); axis.setAttribute("y", H - 4); axis.setAttribute("text-anchor", "end");
  axis.textContent = `${Math.round(end)} ms`;
  root.append(axis);
  document.getElementById("pg-timeline").replaceChildren(root);
}

let frame = 0;
function redraw() { if (!frame) frame = requestAnimationFrame(() => { frame = 0; drawTimeline(); }); }

function finish(s, ok, note) {
  s.state = ok ? "done" : "error";
  s.out.dataset.state = s.state;
  s.pill.className = "pill " + (ok ? "ok" : "bad");
  s.pill.textContent = ok ? "done" : "error";
  s.meta.textContent = note;
  const left = [...run.streams.values()].filter((x) => x.state === "waiting" || x.state === "streaming").length;
  document.getElementById("pg-status").textContent = left ? `${left} stream(s) running…` : `all ${run.streams.size} done in ${Math.round(performance.now() - run.started)} ms over one WebSocket`;
  if (!left) { document.getElementById("pg-send").disabled = false; run.ws.close(1000); }
  redraw();
}

function onMessage(event) {
  const msg = JSON.parse(event.data);
  const meta = msg.metadata || {};
  const s = run.streams.get(meta.eventId);
  if (!s) return;
  const now = performance.now() - run.started;
  if (msg.type === "universal.created") {
    if ((meta.status || 200) >= 400) {
      const e = msg.response && msg.response.errors && msg.response.errors[0];
      s.text.textContent = JSON.stringify(msg.response || {});
      finish(s, false, `status ${meta.status}${e ? " · " + e.message : ""}`);
    } else if ("response" in msg) { // a whole answer
      s.times.push(now); s.text.textContent = chunkText(msg.response);
      finish(s, true, `status ${meta.status} · ${Math.round(now)} ms`);
    } else { s.state = "streaming"; s.out.dataset.state = "streaming"; s.pill.textContent = "streaming"; }
  } else if (msg.type === "universal.stream") {
    s.times.push(now);
    s.text.textContent += chunkText(msg.response);
    redraw();
  } else if (msg.type === "universal.done") {
    const u = meta.usage || {};
    if (meta.error || meta.cancelled) finish(s, false, meta.error ? meta.error.message : "cancelled");
    else finish(s, true, `${s.times.length} chunks · ${Math.round(now)} ms · tokens ${u.tokensIn ?? "–"}/${u.tokensOut ?? "–"}`);
  } else if (msg.type === "universal.error") {
    finish(s, false, (msg.error && msg.error.message) || "error");
  }
}

function send(event) {
  event.preventDefault();
  if (!lanes.length) return;
  const gw = (state.info.gateways || []).find((g) => g.name === "default") || {};
  const ws = new WebSocket(wsUrl(`/v1/${encodeURIComponent(gw.account_id || "console")}/default`), ["cf-aig-authorization." + state.token, "aigw.universal.v1"]);
  const outputs = document.getElementById("pg-outputs");
  outputs.replaceChildren();
  run = { ws, started: performance.now(), streams: new Map() };
  const stamp = Date.now().toString(36);
  lanes.forEach((lane, i) => {
    const eventId = `p${i + 1}-${stamp}`;
    const pill = el("span", { class: "pill info", text: "waiting" });
    const text = el("div", { class: "text", "aria-live": "off" });
    const meta = el("div", { class: "meta" });
    const out = el("section", { class: "out", "data-state": "waiting", "data-event-id": eventId, "aria-label": `Stream ${eventId}` },
      el("h3", {}, `${lane.select.value}`, el("span", { class: "muted", text: lane.model.value }), pill), text, meta);
    out.style.setProperty("--c", lane.color);
    outputs.append(out);
    run.streams.set(eventId, { eventId, provider: lane.select.value, color: lane.color, times: [], state: "waiting", out, pill, text, meta,
      step: step(lane.select.value, lane.model.value, lane.text.value) });
  });
  document.getElementById("pg-send").disabled = true;
  document.getElementById("pg-status").textContent = "connecting…";
  ws.onopen = () => {
    document.getElementById("pg-status").textContent = `${run.streams.size} stream(s) running…`;
    for (const s of run.streams.values()) ws.send(JSON.stringify({ type: "universal.create", request: { eventId: s.eventId, ...s.step } }));
    redraw();
  };
  ws.onmessage = onMessage;
  ws.onclose = () => {
    document.getElementById("pg-send").disabled = false;
    if (!run || run.ws !== ws) return;
    for (const s of run.streams.values()) if (s.state === "waiting" || s.state === "streaming") finish(s, false, "the connection closed");
  };
}

export function showPlayground() {
  if (wired) return;
  wired = true;
  const available = providers();
  const preferred = ["openai", "anthropic", "workers-ai", "google-ai-studio"].filter((p) => available.includes(p));
  const picks = (preferred.length ? preferred : available).slice(0, 3);
  picks.forEach((p, i) => addLane(p, PROMPTS[i % PROMPTS.length]));
  document.getElementById("pg-add").addEventListener("click", () => addLane(available[lanes.length % available.length], PROMPTS[lanes.length % PROMPTS.length]));
  document.getElementById("pg-form").addEventListener("submit", send);
}
