// The attention explorer's page: plain JavaScript over the JSON API of nmt.explorer, drawing SVG.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const state = { models: [], limits: {}, text: "", panels: [] };

// ----------------------------------------------------------------------------- helpers

function el(tag, attrs = {}, text = null, ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function say(message) {
  $("message").textContent = message || "";
}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data.results;
}

// white to dark blue, for a weight in [0, 1]
function colour(w) {
  const t = Math.max(0, Math.min(1, w));
  const mix = (a, b) => Math.round(a + (b - a) * Math.sqrt(t));
  return `rgb(${mix(247, 8)},${mix(251, 48)},${mix(255, 107)})`;
}

function fmt(x) {
  return Number(x).toFixed(3);
}

// ----------------------------------------------------------------------------- panels

function makePanel(model, index) {
  const root = el("section", { class: "panel", id: `panel-${index}`, "data-model": model.label });
  const title = el("h2", {}, model.label + " ");
  title.append(el("small", {}, `${model.model} · ${model.layers} layer(s) × ${model.heads} head(s)`));
  const hyps = el("ol", { class: "hypotheses" });
  const reference = el("p", { class: "reference" });
  const layer = el("select", { class: "layer", "aria-label": "layer" });
  const head = el("select", { class: "head", "aria-label": "head" });
  for (let l = 1; l <= model.layers; l++) layer.append(el("option", { value: l }, `layer ${l}`));
  layer.value = String(model.layers);
  head.append(el("option", { value: "avg" }, model.heads > 1 ? "head average" : "α (one head)"));
  if (model.heads > 1) for (let h = 1; h <= model.heads; h++) head.append(el("option", { value: h }, `head ${h}`));
  const selectors = el("div", { class: "selectors" });
  const layerLabel = el("label", {}, "");
  layerLabel.append(layer);
  const headLabel = el("label", {}, "");
  headLabel.append(head);
  selectors.append(layerLabel, headLabel);
  const gold = el("div", { class: "gold-info" });
  const box = el("div", { class: "heatmap-box" });
  const svg = el("svg", { class: "heatmap", width: 0, height: 0 }, null, SVG);
  const tip = el("div", { class: "tooltip" });
  box.append(svg, tip);
  const nextTitle = el("h3", { class: "next-title" }, "");
  const bars = el("svg", { class: "bars", width: 0, height: 0 }, null, SVG);
  root.append(title, hyps, reference, selectors, gold, box, nextTitle, bars);
  const panel = { model, root, hyps, reference, layer, head, gold, svg, tip, nextTitle, bars, results: null, pick: 0, step: 0 };
  layer.addEventListener("change", () => loadAttention(panel));
  head.addEventListener("change", () => loadAttention(panel));
  return panel;
}

function showHypotheses(panel, result) {
  panel.results = result;
  panel.pick = 0;
  panel.step = 0;
  panel.hyps.replaceChildren();
  result.hypotheses.forEach((h, i) => {
    const item = el("li", { class: i === 0 ? "hypothesis selected" : "hypothesis" }, h.text || "(empty)");
    item.append(el("span", { class: "score" }, `score ${fmt(h.score)} · log p ${fmt(h.log_prob)}`));
    if (h.is_reference) item.append(el("span", { class: "ref" }, "= reference"));
    item.addEventListener("click", () => {
      panel.pick = i;
      panel.step = 0;
      panel.hyps.querySelectorAll("li").forEach((li, k) => li.classList.toggle("selected", k === i));
      loadAttention(panel);
      loadNext(panel);
    });
    panel.hyps.append(item);
  });
  panel.reference.textContent = result.reference ? `reference: ${result.reference}` : "";
  if (result.truncated) panel.reference.textContent += " (the source was cut to the run's max_len)";
}

// ----------------------------------------------------------------------------- heatmap

async function loadAttention(panel) {
  if (!panel.results) return;
  const hyp = panel.results.hypotheses[panel.pick];
  const useReference = $("reference").checked && panel.results.reference !== null;
  const head = panel.head.value === "avg" ? "avg" : Number(panel.head.value);
  const body = {
    text: state.text, runs: [panel.model.label], kind: $("kind").value, layer: Number(panel.layer.value),
    head, words: $("words").checked,
  };
  if (useReference) body.reference = true;
  else body.target_ids = hyp.tgt_ids;
  try {
    const [answer] = await api("/api/attention", body);
    panel.attention = answer;
    drawHeatmap(panel, answer);
    showGold(panel, answer);
    panel.root.dataset.layer = answer.layer;
    panel.root.dataset.head = answer.head;
    panel.root.dataset.kind = answer.kind;
  } catch (err) {
    panel.svg.replaceChildren();
    panel.gold.textContent = "";
    panel.gold.append(el("span", { class: "empty" }, err.message));
    panel.root.dataset.kind = "";
  }
}

function drawHeatmap(panel, a) {
  const svg = panel.svg;
  svg.replaceChildren();
  const cell = Math.max(12, Math.min(26, Math.floor(560 / Math.max(a.x.length, 1))));
  const left = 10 + 7 * Math.max(...a.y.map((s) => s.length), 3);
  const top = 10 + 7 * Math.max(...a.x.map((s) => s.length), 3);
  svg.setAttribute("width", left + cell * a.x.length + 10);
  svg.setAttribute("height", top + cell * a.y.length + 10);
  a.x.forEach((label, c) => {
    const x = left + c * cell + cell / 2;
    svg.append(el("text", { x, y: top - 6, transform: `rotate(-60 ${x} ${top - 6})` }, label, SVG));
  });
  a.y.forEach((label, r) => {
    const t = el("text", { x: left - 6, y: top + r * cell + cell * 0.7, "text-anchor": "end", class: "row-label" }, label, SVG);
    if (a.row_steps) t.addEventListener("click", () => chooseStep(panel, a.row_steps[r]));
    svg.append(t);
  });
  a.weights.forEach((row, r) => {
    row.forEach((w, c) => {
      const rect = el("rect", {
        class: "cell", x: left + c * cell, y: top + r * cell, width: cell, height: cell, fill: colour(w),
        "data-weight": w,
      }, null, SVG);
      const words = `${a.y[r]} ← ${a.x[c]}: ${fmt(w)}`;
      rect.append(el("title", {}, words, SVG));
      rect.addEventListener("mousemove", (e) => tooltip(panel, e, words));
      rect.addEventListener("mouseleave", () => { panel.tip.style.display = "none"; });
      if (a.row_steps) rect.addEventListener("click", () => chooseStep(panel, a.row_steps[r]));
      svg.append(rect);
    });
  });
  for (const [x0, x1, y0, y1] of (a.gold && a.gold.links) || []) {
    svg.append(el("rect", {
      class: "gold", x: left + x0 * cell + 1, y: top + y0 * cell + 1,
      width: (x1 - x0 + 1) * cell - 2, height: (y1 - y0 + 1) * cell - 2,
    }, null, SVG));
  }
  if (a.row_steps) {
    const r = a.row_steps.findIndex((s, k) => s <= panel.step && (k + 1 === a.row_steps.length || a.row_steps[k + 1] > panel.step));
    if (r >= 0) {
      svg.append(el("rect", { class: "step", x: left - 2, y: top + r * cell, width: cell * a.x.length + 4, height: cell }, null, SVG));
    }
  }
}

function tooltip(panel, event, text) {
  const box = panel.svg.parentElement.getBoundingClientRect();
  panel.tip.textContent = text;
  panel.tip.style.left = `${event.clientX - box.left + 12}px`;
  panel.tip.style.top = `${event.clientY - box.top + 12}px`;
  panel.tip.style.display = "block";
}

function showGold(panel, a) {
  panel.gold.replaceChildren();
  if (!a.gold) return;
  const g = a.gold;
  const which = a.heads === 1 ? `layer ${a.layer}, α` : a.head === "avg" ? `layer ${a.layer}, head average` : `layer ${a.layer}, head ${a.head}`;
  const best = g.table.reduce((b, r) => (r.aer < b.aer ? r : b), g.table[0]);
  panel.gold.append(el("span", { class: "aer" }, `AER ${fmt(g.aer)} (${which}; teacher-forced on the reference)`));
  panel.gold.append(el("span", {}, ` · lowest: layer ${best.layer}, head ${best.head}, ${fmt(best.aer)}`));
  if (!g.drawn) panel.gold.append(el("span", { class: "empty" }, " · gold links drawn only on the reference"));
}

// ----------------------------------------------------------------------------- next-token bars

function chooseStep(panel, step) {
  panel.step = step;
  if (panel.attention) drawHeatmap(panel, panel.attention);
  loadNext(panel);
}

async function loadNext(panel) {
  if (!panel.results) return;
  const ids = panel.attention && $("reference").checked ? panel.attention.target_ids : panel.results.hypotheses[panel.pick].tgt_ids;
  const step = Math.min(panel.step, ids.length);
  const temperature = Number($("temperature").value);
  try {
    const [answer] = await api("/api/next-token", {
      text: state.text, runs: [panel.model.label], prefix_ids: ids.slice(0, step), temperature, k: 10,
    });
    drawBars(panel, answer, ids[step]);
    panel.root.dataset.temperature = answer.temperature;
    panel.root.dataset.step = answer.step;
  } catch (err) {
    panel.bars.replaceChildren();
    panel.nextTitle.textContent = err.message;
  }
}

function drawBars(panel, a, chosenId) {
  const prefix = a.prefix_pieces.length ? a.prefix_pieces.join(" ") : "<s>";
  panel.nextTitle.textContent = `next piece at step ${a.step + 1} after “${prefix}” · T = ${a.temperature} · entropy ${fmt(a.entropy)} nats`;
  const svg = panel.bars;
  svg.replaceChildren();
  const left = 10 + 7 * Math.max(...a.pieces.map((s) => s.length), 4);
  const width = 260;
  const rowH = 18;
  svg.setAttribute("width", left + width + 60);
  svg.setAttribute("height", rowH * a.pieces.length + 4);
  a.pieces.forEach((piece, k) => {
    const y = k * rowH + 2;
    svg.append(el("text", { x: left - 6, y: y + 12, "text-anchor": "end" }, piece, SVG));
    const bar = el("rect", { x: left, y, width: Math.max(1, a.probs[k] * width), height: rowH - 4 }, null, SVG);
    if (a.ids[k] === (chosenId === undefined ? -1 : chosenId)) bar.setAttribute("class", "chosen");
    bar.append(el("title", {}, `${piece}: ${fmt(a.probs[k])}`, SVG));
    svg.append(bar, el("text", { x: left + a.probs[k] * width + 4, y: y + 12 }, fmt(a.probs[k]), SVG));
  });
}

// ----------------------------------------------------------------------------- the form

async function translate() {
  const text = $("text").value.trim();
  if (!text) return say("Type a sentence first.");
  if (text.length > state.limits.max_chars) return say(`At most ${state.limits.max_chars} characters, please.`);
  say("translating…");
  const strategy = $("strategy").value;
  const seed = $("seed").value === "" ? null : Number($("seed").value);
  const body = {
    text, strategy, beam_size: Number($("beam").value), n_best: Number($("nbest").value),
    temperature: Number($("temperature").value), seed: strategy === "sample" ? seed : null,
  };
  try {
    const results = await api("/api/translate", body);
    state.text = text;
    say("");
    const hasReference = results.some((r) => r.reference !== null);
    $("reference-box").hidden = !hasReference;
    if (!hasReference) $("reference").checked = false;
    results.forEach((r, i) => showHypotheses(state.panels[i], r));
    await Promise.all(state.panels.map(async (p) => { await loadAttention(p); await loadNext(p); }));
    document.body.dataset.translated = String(Date.now());
  } catch (err) {
    say(err.message);
  }
}

function strategyChanged() {
  const s = $("strategy").value;
  document.querySelectorAll(".beam-only").forEach((n) => { n.hidden = s !== "beam"; });
  document.querySelectorAll(".sample-only").forEach((n) => { n.hidden = s !== "sample"; });
  if (s === "greedy") $("nbest").value = 1;
}

let temperatureTimer = null;
function temperatureChanged() {
  $("temperature-value").textContent = Number($("temperature").value).toFixed(1);
  clearTimeout(temperatureTimer);
  temperatureTimer = setTimeout(() => state.panels.forEach(loadNext), 120);
}

async function start() {
  const response = await fetch("/api/models");
  const info = await response.json();
  state.models = info.models;
  state.limits = info.limits;
  $("text").maxLength = info.limits.max_chars;
  $("beam").max = info.limits.max_beam;
  $("nbest").max = info.limits.max_samples;
  $("loaded").textContent = "Loaded: " + info.models.map((m) => `${m.label} (${m.checkpoint || "weights"})`).join(" · ");
  state.panels = info.models.map(makePanel);
  $("panels").replaceChildren(...state.panels.map((p) => p.root));
  const examples = [...new Set(info.models.flatMap((m) => m.examples))].slice(0, 3);
  if (examples.length) {
    $("examples").hidden = false;
    for (const sentence of examples) {
      const link = el("a", {}, sentence);
      link.addEventListener("click", () => { $("text").value = sentence; translate(); });
      $("example-list").append(link);
    }
  }
  $("translate").addEventListener("click", translate);
  $("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); translate(); } });
  $("strategy").addEventListener("change", strategyChanged);
  $("temperature").addEventListener("input", temperatureChanged);
  for (const id of ["kind", "words", "reference"]) {
    $(id).addEventListener("change", () => state.panels.forEach(async (p) => { await loadAttention(p); await loadNext(p); }));
  }
  strategyChanged();
  document.body.dataset.ready = "true";
}

start().catch((err) => say(`Could not load the models: ${err.message}`));
