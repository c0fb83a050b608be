// graphnn explorer: walks a graph drawn by Graphviz and shows every recorded tensor.
// Plain JS, no network. Every name from the data is inserted as text (textContent), never as markup.
"use strict";
(() => {
  const D = JSON.parse(document.getElementById("graphnn-data").textContent);
  const $ = (id) => document.getElementById(id);
  const N = D.nodes;
  const STATS = ["shape", "dtype", "size", "min", "max", "mean", "std", "norm", "zeros", "nans", "infs"];
  const index = new Map(N.map((n, i) => [n.name, i]));
  const layers = new Map(); // layer name -> member indices
  N.forEach((n, i) => {
    if (n.layer == null) return;
    if (!layers.has(n.layer)) layers.set(n.layer, []);
    layers.get(n.layer).push(i);
  });
  const S = {mode: "full", layer: null, backward: D.backward && !D.collapsed, frame: Math.max(0, D.frames.length - 1),
             sel: null, selLayer: null, hits: [], x: 0, y: 0, k: 1, dragged: false};
  const cache = new Map(); // view index -> imported <svg>
  let shown = new Map(); // node or layer name -> its element in the current view

  // ------------------------------------------------------------ small helpers

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fmt(v) {
    if (!Number.isFinite(v)) return String(v).toLowerCase();
    const t = (+v.toPrecision(4)).toString();
    return t === "-0" ? "0" : t;
  }
  function rows(pairs) {
    const t = el("table");
    for (const [k, v] of pairs) {
      const tr = t.insertRow();
      tr.append(el("th", k), el("td", v));
    }
    return t;
  }
  function heading(text) { return el("h3", text); }

  // ------------------------------------------------------------ views

  function findView(mode, layer, bw) {
    return D.views.findIndex((v) => v.mode === mode && (v.layer || null) === (layer || null) && v.backward === bw);
  }
  function svgOf(k) {
    if (!cache.has(k)) {
      const doc = new DOMParser().parseFromString(D.views[k].svg, "image/svg+xml");
      if (doc.documentElement.localName !== "svg") throw new Error("graphnn: a diagram could not be read");
      const svg = document.importNode(doc.documentElement, true);
      // the exact names, set as attributes (never parsed as markup)
      for (const [attr, name] of [["data-i", "data-node"], ["data-li", "data-layer"], ["data-ci", "data-cluster"]]) {
        for (const e of svg.querySelectorAll(`[${attr}]`)) {
          const i = Number(e.getAttribute(attr));
          e.setAttribute(name, attr === "data-i" ? N[i].name : D.layers[i]);
        }
      }
      for (const e of svg.querySelectorAll(".edge")) {
        for (const attr of ["data-from", "data-to"]) {
          const v = e.getAttribute(attr) || "", i = Number(v.slice(1));
          e.setAttribute(attr, v[0] === "n" ? N[i].name : v[0] === "l" ? D.layers[i] : "");
        }
      }
      cache.set(k, svg);
    }
    return cache.get(k);
  }
  function show(mode, layer, keepPlace) {
    const bw = S.backward && D.backward;
    let k = findView(mode, layer, bw);
    if (k < 0) { mode = "full"; layer = null; k = findView("full", null, bw); }
    const changed = mode !== S.mode || layer !== S.layer || $("canvas").firstChild !== svgOf(k);
    S.mode = mode; S.layer = layer;
    $("canvas").replaceChildren(svgOf(k));
    shown = new Map();
    for (const e of $("canvas").querySelectorAll("[data-layer]")) shown.set(e.getAttribute("data-layer"), e);
    for (const e of $("canvas").querySelectorAll("[data-node]")) shown.set(e.getAttribute("data-node"), e);
    $("view-layers").classList.toggle("on", mode === "layers");
    $("view-full").classList.toggle("on", mode === "full");
    $("view-note").textContent = mode === "layers" ? "One box per layer: click a green box to expand it."
      : mode === "layer" ? `${layer} expanded: click its frame's label (or Layers) to collapse it.`
      : "Every node. Drag to pan, wheel to zoom, click a node to inspect it.";
    if (changed && !keepPlace) fit();
    paint();
  }
  function where(i) { return shown.get(N[i].name) || (N[i].layer != null ? shown.get(N[i].layer) : undefined); }
  function reveal(i) { // switch to a view where node i has its own box
    const n = N[i];
    if (n.backward && !S.backward) { S.backward = true; $("backward").checked = true; show(S.mode, S.layer, true); }
    if (shown.has(n.name)) return;
    show(n.layer != null && findView("layer", n.layer, S.backward && D.backward) >= 0 ? "layer" : "full", n.layer, true);
  }

  // ------------------------------------------------------------ colours: health, selection, search

  function relatives(i, up) {
    const pre = up ? D.ancestors : D.descendants;
    if (pre) return pre[i];
    const seen = new Set(), stack = [i], key = up ? "inputs" : "outputs";
    while (stack.length) for (const j of N[stack.pop()][key]) if (!seen.has(j)) { seen.add(j); stack.push(j); }
    return [...seen];
  }
  function paint() {
    const all = $("canvas").querySelectorAll(".node, .edge");
    for (const e of all) e.classList.remove("gn-warning", "gn-error", "gn-sel", "gn-anc", "gn-desc", "gn-dim", "gn-hit");
    const frame = D.frames[S.frame];
    if (frame) {
      for (const [i, severity] of frame.findings) {
        const e = where(i);
        if (e) e.classList.add(severity === "error" ? "gn-error" : "gn-warning");
      }
    }
    for (const i of S.hits) { const e = where(i); if (e) e.classList.add("gn-hit"); }
    let focus = null;
    if (S.sel !== null) {
      focus = new Set();
      for (const [list, cls] of [[relatives(S.sel, true), "gn-anc"], [relatives(S.sel, false), "gn-desc"], [[S.sel], "gn-sel"]]) {
        for (const i of list) { const e = where(i); if (e) { e.classList.add(cls); focus.add(e); } }
      }
    } else if (S.selLayer !== null && shown.has(S.selLayer)) {
      focus = new Set([shown.get(S.selLayer)]);
      focus.forEach((e) => e.classList.add("gn-sel"));
    }
    if (!focus || S.sel === null) return;
    for (const e of all) {
      if (e.classList.contains("node")) { if (!focus.has(e)) e.classList.add("gn-dim"); continue; }
      const a = shown.get(e.getAttribute("data-from")), b = shown.get(e.getAttribute("data-to"));
      if (!(focus.has(a) && focus.has(b))) e.classList.add("gn-dim");
    }
  }

  // ------------------------------------------------------------ pan and zoom

  const dia = $("diagram"), canvas = $("canvas");
  let drag = null;
  function place() { canvas.style.transform = `translate(${S.x}px, ${S.y}px) scale(${S.k})`; }
  function fit() {
    const svg = canvas.firstChild;
    if (!svg) return;
    S.x = 0; S.y = 0; S.k = 1; place();
    const b = svg.getBoundingClientRect(), d = dia.getBoundingClientRect();
    if (!b.width || !b.height) return;
    S.k = Math.min(1.6, 0.96 * Math.min(d.width / b.width, d.height / b.height));
    S.x = (d.width - b.width * S.k) / 2; S.y = Math.max(4, (d.height - b.height * S.k) / 2);
    place();
  }
  function centerOn(e) {
    if (!e) return;
    if (S.k < 0.35) { S.k = 0.8; place(); }
    const r = e.getBoundingClientRect(), d = dia.getBoundingClientRect();
    S.x += d.left + d.width / 2 - (r.left + r.width / 2);
    S.y += d.top + d.height / 2 - (r.top + r.height / 2);
    place();
  }
  dia.addEventListener("pointerdown", (ev) => {
    if (ev.button === 0) drag = {x: ev.clientX, y: ev.clientY, sx: S.x, sy: S.y, moved: false};
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) { drag.moved = true; dia.classList.add("dragging"); }
    if (drag.moved) { S.x = drag.sx + dx; S.y = drag.sy + dy; place(); }
  });
  window.addEventListener("pointerup", () => {
    S.dragged = Boolean(drag && drag.moved);
    drag = null;
    dia.classList.remove("dragging");
    setTimeout(() => { S.dragged = false; }, 0);
  });
  dia.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const d = dia.getBoundingClientRect(), px = ev.clientX - d.left, py = ev.clientY - d.top;
    const k = Math.min(8, Math.max(0.03, S.k * Math.exp(-ev.deltaY * 0.0015)));
    S.x = px - (px - S.x) * (k / S.k); S.y = py - (py - S.y) * (k / S.k); S.k = k;
    place();
  }, {passive: false});
  dia.addEventListener("click", (ev) => {
    if (S.dragged) return;
    const t = ev.target;
    const node = t.closest("[data-node]");
    if (node) return select(index.get(node.getAttribute("data-node")), false);
    const layer = t.closest("[data-layer]");
    if (layer) return expand(layer.getAttribute("data-layer"));
    const cluster = t.closest("[data-cluster]");
    if (cluster && t.localName === "text") return collapse(cluster.getAttribute("data-cluster"));
  });

  // ------------------------------------------------------------ selecting

  function select(i, center) {
    if (i === undefined || i === null) return;
    S.sel = i; S.selLayer = null;
    reveal(i);
    paint();
    inspect();
    if (center) centerOn(where(i));
  }
  function expand(name) {
    S.sel = null; S.selLayer = name;
    show(findView("layer", name, S.backward && D.backward) >= 0 ? "layer" : "full", name, false);
    inspect();
  }
  function collapse(name) {
    if (findView("layers", null, S.backward && D.backward) < 0) return;
    S.sel = null; S.selLayer = name;
    show("layers", null, false);
    inspect();
  }

  // ------------------------------------------------------------ the inspector

  function links(title, list) {
    const box = el("div", null, "links");
    box.append(heading(`${title} (${list.length})`));
    if (!list.length) box.append(el("span", "none", "hint"));
    for (const j of list) {
      const b = el("button", N[j].name);
      b.type = "button";
      b.title = `${N[j].kind} ${N[j].op}`;
      b.addEventListener("click", () => select(j, true));
      box.append(b);
    }
    return box;
  }
  function statsTable(s, id) {
    const t = el("table");
    t.id = id;
    STATS.forEach((key, k) => {
      if ((key === "nans" || key === "infs") && s[k] === "0") return;
      const tr = t.insertRow();
      tr.dataset.stat = key;
      tr.append(el("th", k < 2 ? `run-time ${key}` : key), el("td", s[k]));
    });
    return t;
  }
  function histogram(h, id, colour) {
    const c = el("canvas");
    c.id = id; c.width = 400; c.height = 96;
    const g = c.getContext("2d"), [counts, lo, hi] = h, top = Math.max(1, ...counts), w = 400 / counts.length;
    g.fillStyle = colour;
    counts.forEach((n, k) => { const bh = (n / top) * 76; g.fillRect(k * w + 1, 78 - bh, w - 2, bh); });
    g.fillStyle = "#444"; g.font = "11px sans-serif";
    g.fillText(fmt(lo), 2, 92);
    const right = fmt(hi);
    g.fillText(right, 398 - g.measureText(right).width, 92);
    g.fillText(`max count ${top}`, 170, 92);
    return c;
  }
  function decode(e) {
    const bin = atob(e.x), bytes = new Uint8Array(bin.length);
    for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
    return new Float32Array(bytes.buffer);
  }
  function heatmap(v, nr, nc) {
    let m = 0;
    for (const x of v) if (Number.isFinite(x)) m = Math.max(m, Math.abs(x));
    const off = document.createElement("canvas");
    off.width = nc; off.height = nr;
    const og = off.getContext("2d"), img = og.createImageData(nc, nr);
    v.forEach((x, k) => {
      let r = 0, g = 0, b = 0;
      if (Number.isFinite(x)) {
        const t = m ? x / m : 0, f = Math.round(255 * (1 - Math.abs(t)));
        [r, g, b] = t >= 0 ? [255, f, f] : [f, f, 255];
      }
      img.data.set([r, g, b, 255], k * 4);
    });
    og.putImageData(img, 0, 0);
    const c = el("canvas");
    c.id = "heatmap";
    const cw = Math.max(1, Math.min(24, Math.floor(400 / nc))), ch = Math.max(1, Math.min(cw, Math.floor(260 / nr)));
    c.width = nc * cw; c.height = nr * ch;
    const g = c.getContext("2d");
    g.imageSmoothingEnabled = false;
    g.drawImage(off, 0, 0, c.width, c.height);
    return [c, m];
  }
  function numbersTable(v, nr, nc) {
    const t = el("table", null, "numbers");
    t.id = "numbers";
    const r = Math.min(nr, 6), c = Math.min(nc, 6);
    for (let i = 0; i < r; i++) {
      const tr = t.insertRow();
      for (let j = 0; j < c; j++) tr.append(el("td", fmt(v[i * nc + j])));
      if (c < nc) tr.append(el("td", "…"));
    }
    if (r < nr) t.insertRow().append(el("td", "…"));
    return t;
  }
  function findingsList(frame, members) {
    const box = el("div");
    box.id = "findings";
    box.append(heading("health"));
    const mine = frame ? frame.findings.filter(([i]) => members.includes(i)) : [];
    if (!mine.length) box.append(el("p", frame ? "no findings" : "no values", "hint"));
    for (const [i, severity, check, message] of mine) {
      box.append(el("p", `${severity}: ${members.length > 1 ? N[i].name + ": " : ""}${message} [${check}]`,
                    `finding ${severity}`));
    }
    return box;
  }
  function notes(box) { for (const text of D.notes) box.append(el("p", text, "note")); }

  function inspect() {
    const box = $("inspector");
    box.replaceChildren();
    const frame = D.frames[S.frame];
    if (S.sel === null) {
      if (S.selLayer !== null && layers.has(S.selLayer)) {
        const members = layers.get(S.selLayer);
        box.append(el("h2", S.selLayer), el("div", `layer of ${members.length} nodes`, "meta"));
        box.append(links("members", members), findingsList(frame, members));
      } else {
        box.append(el("h2", "Inspector"), el("p", "Click a node to see its values, gradient and health; " +
          "search by name or op; move the step slider to see the recorded steps.", "hint"));
      }
      notes(box);
      return;
    }
    const n = N[S.sel];
    box.append(el("h2", n.name), el("div", `${n.kind} node${n.backward ? " of the backward pass" : ""}`, "meta"));
    box.append(rows([["op", n.op], ["layer", n.layer ?? "-"], ["attributes", n.attrs || "-"],
                     ["static shape", `${n.shape} ${n.dtype}`]]));
    box.append(links("inputs", n.inputs), links("outputs", n.outputs));
    if (n.grad != null) box.append(links("gradient node", [n.grad]));
    const e = frame && frame.nodes[S.sel];
    if (!e) {
      box.append(el("p", frame ? `not recorded at ${frame.label}` : "no values: explore(..., values=) or history=", "hint"));
      box.append(findingsList(frame, [S.sel]));
      notes(box);
      return;
    }
    box.append(heading(`value at ${frame.label}`));
    box.append(statsTable(e.s, "stats"));
    if (e.h) box.append(heading("histogram"), histogram(e.h, "hist", "#5c6bc0"));
    if (e.rows || e.cols) {
      const what = [[e.rows, "rows"], [e.cols, "columns"]].filter(([p]) => p).map(([p, a]) => `${p[0]} of ${p[1]} ${a}`);
      box.append(el("p", `sampled: ${what.join(" and ")} kept (evenly spaced) for the heatmap and numbers; ` +
                         "statistics and histogram use every number", "note sampled"));
    }
    if (e.x) {
      const v = decode(e), [nr, nc] = e.xs, [c, m] = heatmap(v, nr, nc);
      box.append(heading(`heatmap ${nr} × ${nc}`), c, el("p", `blue −${fmt(m)} · white 0 · red +${fmt(m)}`, "hint"));
      box.append(heading("numbers"), numbersTable(v, nr, nc));
    } else if (!frame.arrays) {
      box.append(el("p", "numbers not kept at this step (memory budget)", "note"));
    }
    if (e.g) {
      const grad = el("div");
      grad.id = "gradient";
      grad.append(heading("gradient"), rows([["norm", e.g[7]], ["min", e.g[3]], ["max", e.g[4]], ["mean", e.g[5]]]));
      if (e.gh) grad.append(histogram(e.gh, "grad-hist", "#8e24aa"));
      box.append(grad);
    }
    box.append(findingsList(frame, [S.sel]));
    notes(box);
  }

  // ------------------------------------------------------------ search

  const search = $("search"), results = $("results");
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    S.hits = q ? N.map((n, i) => i).filter((i) => N[i].name.toLowerCase().includes(q) || N[i].op.toLowerCase().includes(q)) : [];
    results.replaceChildren();
    for (const i of S.hits.slice(0, 60)) {
      const li = el("li");
      li.dataset.node = N[i].name;
      li.append(el("span", N[i].name), el("span", N[i].op, "op"));
      li.addEventListener("click", () => { results.hidden = true; select(i, true); });
      results.append(li);
    }
    if (q && !S.hits.length) results.append(el("li", "no match", "hint"));
    if (S.hits.length > 60) results.append(el("li", `… ${S.hits.length - 60} more`, "hint"));
    results.hidden = !q;
    paint();
  });
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && S.hits.length) { results.hidden = true; select(S.hits[0], true); }
    if (ev.key === "Escape") { search.value = ""; search.dispatchEvent(new Event("input")); }
  });
  document.addEventListener("click", (ev) => { if (!ev.target.closest(".search-box")) results.hidden = true; });

  // ------------------------------------------------------------ controls and start

  const step = $("step");
  function showStep() {
    const frame = D.frames[S.frame];
    $("step-label").textContent = frame ? `${frame.label} (${S.frame + 1}/${D.frames.length})` : "no values";
  }
  step.max = String(Math.max(0, D.frames.length - 1));
  step.value = String(S.frame);
  step.disabled = D.frames.length < 2;
  step.addEventListener("input", () => { S.frame = Number(step.value); showStep(); paint(); inspect(); });
  $("view-layers").disabled = findView("layers", null, false) < 0;
  $("view-layers").addEventListener("click", () => show("layers", null, false));
  $("view-full").addEventListener("click", () => show("full", null, false));
  $("backward").checked = S.backward;
  $("backward").disabled = !D.backward;
  $("backward").addEventListener("change", () => {
    S.backward = $("backward").checked;
    if (S.sel !== null && N[S.sel].backward && !S.backward) S.sel = null;
    show(S.mode, S.layer, false);
    inspect();
  });
  $("fit").addEventListener("click", fit);
  dia.addEventListener("keydown", (ev) => { if (ev.key === "f" || ev.key === "0") fit(); });
  window.addEventListener("resize", () => fit());
  $("title").textContent = D.title;
  document.title = D.title;
  showStep();
  show(D.collapsed && findView("layers", null, S.backward && D.backward) >= 0 ? "layers" : "full", null, false);
  inspect();
  document.body.dataset.ready = "true";
})();
