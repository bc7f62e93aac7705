// Requests, mean latency, tokens and cost over time per provider/model, drawn as inline SVG.
import { api, el } from "./app.js";
import { onRows } from "./logs.js";

const NS = "http://www.w3.org/2000/svg";
export const COLORS = ["#3b5bdb", "#c2255c", "#2b8a3e", "#e67700", "#7048e8", "#0c8599"];
const W = 600, H = 180, PAD = { l: 44, r: 10, t: 10, b: 22 };
let wired = false;
let timer = null;

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** One line chart: x = bucket index, one polyline per series. */
function lineChart(target, data, metric, colors, label) {
  const names = Object.keys(data.series);
  const max = niceMax(Math.max(0, ...names.flatMap((n) => data.series[n][metric])));
  const x = (i) => PAD.l + (data.count <= 1 ? 0 : (i / (data.count - 1)) * (W - PAD.l - PAD.r));
  const y = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, preserveAspectRatio: "none" });
  for (const f of [0, 0.5, 1]) {
    root.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y(max * f), y2: y(max * f), stroke: "#e9ecef" }));
    const t = svg("text", { x: PAD.l - 6, y: y(max * f) + 3, "text-anchor": "end" });
    t.textContent = String(Math.round(max * f * 10) / 10);
    root.append(t);
  }
  for (const [i, at] of [[0, data.start], [data.count - 1, data.start + data.count * data.bucket]]) {
    const t = svg("text", { x: x(i), y: H - 6, "text-anchor": i ? "end" : "start" });
    t.textContent = new Date(at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    root.append(t);
  }
  names.forEach((n) => {
    const values = data.series[n][metric];
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points, fill: "none", stroke: colors[n], "stroke-width": 2, "vector-effect": "non-scaling-stroke", "stroke-linejoin": "round" }));
  });
  if (!names.length) {
    const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" });
    t.textContent = "no requests in this window";
    root.append(t);
  }
  target.replaceChildren(root);
}

async function draw() {
  const [window_, bucket] = document.getElementById("chart-window").value.split(",");
  const data = await api(`/ui/api/stats?window=${window_}&bucket=${bucket}`);
  const names = Object.keys(data.series).sort();
  const colors = Object.fromEntries(names.map((n, i) => [n, COLORS[i % COLORS.length]]));
  document.getElementById("chart-legend").replaceChildren(
    ...names.map((n) => {
      const swatch = el("i", { "aria-hidden": "true" });
      swatch.style.background = colors[n]; // CSSOM, not a style attribute: the CSP allows no inline styles
      return el("span", {}, swatch, n);
    }));
  lineChart(document.getElementById("chart-requests"), data, "requests", colors, "Requests per bucket");
  lineChart(document.getElementById("chart-latency"), data, "latency_ms", colors, "Mean latency per bucket, ms");
  lineChart(document.getElementById("chart-tokens"), data, "tokens", colors, "Tokens per bucket");
  lineChart(document.getElementById("chart-cost"), data, "cost", colors, "Cost per bucket, USD");
}

export async function showCharts() {
  if (!wired) {
    wired = true;
    document.getElementById("chart-window").addEventListener("change", () => draw());
    // New rows redraw the charts while they are on screen (at most once a second).
    onRows(() => {
      if (document.getElementById("view-charts").hidden || timer) return;
      timer = setTimeout(() => { timer = null; draw().catch(() => {}); }, 1000);
    });
  }
  await draw();
}
