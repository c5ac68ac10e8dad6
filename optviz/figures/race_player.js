// The race's player: ▶ Play / ❚❚ Pause, a step scrubber and a "t = 37 / 300" readout, drawn
// under the race chart and animating its paths in the browser.
//
// The race figure carries no animation frames. `race_figure` (race.py) puts each run's complete
// path in `layout.meta.race` once (float32, base64), and the player cuts each path at step t
// itself. While it plays, it draws the paths on a canvas laid over each panel's plot area (a
// frame costs a millisecond or two, so every display frame can be a step) and hides Plotly's
// path and head traces; when it stops, or when the scrubber moves, one `Plotly.animate` of
// those traces (no contour redraw) shows step t in the figure itself, hover and all. The same
// code runs in the app (with the race chart in one `st.components.v2` element, see
// `optviz.ui.race_view` and `charts.js`) and in the exported HTML page.
//
// The 3-D view of the same race (`surface_3d_figure`, its `layout.meta.race3d`), when the page
// shows it, follows along: see `optvizRace3d` below.
//
// Signals for tests and benchmarks: every step drawn is an `optviz-frame` event on the controls
// (`.optviz-player`, `event.detail.step`), and the controls carry `data-step` and
// `data-playing`.

function optvizRacePlayer(parent, findChart) {
  const host = document.createElement("div");
  host.className = "optviz-player";
  host.innerHTML = `
    <style>
      .optviz-player { display: flex; align-items: center; gap: 0.75rem; font: inherit; }
      .optviz-player .play { min-width: 6.5rem; padding: 0.35rem 0.8rem; font: inherit;
        color: inherit; background: transparent; border: 1px solid rgba(49, 51, 63, 0.3);
        border-radius: 0.5rem; cursor: pointer; }
      .optviz-player .play:hover, .optviz-player .play:focus-visible { border-color: #FF4B4B;
        color: #FF4B4B; }
      .optviz-player .scrub { flex: 1; accent-color: #FF4B4B; }
      .optviz-player .readout { min-width: 8rem; text-align: right;
        font-variant-numeric: tabular-nums; }
    </style>
    <button type="button" class="play" aria-label="Play">▶ Play</button>
    <input type="range" class="scrub" min="0" max="0" step="1" value="0"
           aria-label="Step of the race">
    <output class="readout" aria-live="off"></output>`;
  parent.appendChild(host);
  const button = host.querySelector(".play");
  const scrub = host.querySelector(".scrub");
  const readout = host.querySelector(".readout");

  const STILL = { frame: { duration: 0, redraw: false }, transition: { duration: 0 }, mode: "immediate" };
  const player = { raceId: null, steps: 0, t: 0, playing: false, decoded: new Map() };
  const hooked = new WeakSet();
  const threeD = optvizRace3d(player, host);

  function decode(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Float32Array(bytes.buffer);
  }

  // The race chart whose figure is this player's race, once Plotly has drawn it.
  function chart() {
    const gd = findChart(player.raceId);
    if (!gd || !window.Plotly || !gd._fullLayout) return null;
    if (!hooked.has(gd)) {
      hooked.add(gd);
      // A redraw of the whole figure (the app re-sent it) shows complete paths: keep step t.
      gd.on("plotly_afterplot", () => {
        if (player.t < player.steps) draw(player.t);
      });
    }
    return gd;
  }

  function runs(race) {
    if (!player.decoded.has(race.id)) {
      player.decoded.clear();
      player.decoded.set(
        race.id,
        race.runs.map((run) => ({ ...run, x: decode(run.x), y: decode(run.y) })),
      );
    }
    return player.decoded.get(race.id);
  }

  function show(t) {
    player.t = t;
    scrub.value = String(t);
    readout.textContent = `t = ${t} / ${player.steps}`;
    host.dataset.step = String(t);
    threeD.step(t);
    host.dispatchEvent(new CustomEvent("optviz-frame", { detail: { step: t } }));
  }

  // Step t on the chart: each path up to t (up to its last point in the window), its head there.
  function draw(t) {
    const gd = chart();
    if (!gd) return Promise.resolve();
    const race = gd.layout.meta.race;
    const data = [];
    const traces = [];
    for (const run of runs(race)) {
      const n = Math.min(t, run.last);
      data.push({ x: run.x.subarray(0, n + 1), y: run.y.subarray(0, n + 1) });
      traces.push(run.path);
    }
    for (const run of runs(race)) {
      const n = Math.min(t, run.last);
      data.push({ x: [run.x[n]], y: [run.y[n]], marker: t > run.last ? run.ended : run.marker });
      traces.push(run.head);
    }
    return window.Plotly.animate(gd, { name: String(t), data, traces }, STILL);
  }

  // --- playback on canvases over the plot areas ------------------------------------------------
  const DASHES = { solid: [], dash: [9, 5], dot: [2, 4], dashdot: [9, 4, 2, 4] };
  let overlay = null; // {layers: subplot → its canvas and axes, drawn: each run and its layer}

  function openOverlay(gd) {
    const race = gd.layout.meta.race;
    const box = gd.getBoundingClientRect();
    const scale = window.devicePixelRatio || 1;
    const layers = new Map();
    const drawn = runs(race).map((run) => {
      const trace = gd.data[run.path];
      const xaxis = trace.xaxis || "x";
      const yaxis = trace.yaxis || "y";
      const subplot = xaxis + yaxis;
      if (!layers.has(subplot)) {
        const area = gd.querySelector(`.nsewdrag[data-subplot="${subplot}"]`).getBoundingClientRect();
        const canvas = document.createElement("canvas");
        canvas.className = "optviz-player-layer";
        Object.assign(canvas.style, {
          position: "absolute", pointerEvents: "none",
          left: `${area.left - box.left}px`, top: `${area.top - box.top}px`,
          width: `${area.width}px`, height: `${area.height}px`,
        });
        canvas.width = Math.round(area.width * scale);
        canvas.height = Math.round(area.height * scale);
        const ctx = canvas.getContext("2d");
        ctx.scale(scale, scale);
        const name = (axis) => axis.replace(/^([xy])(\d*)$/, "$1axis$2");
        const [x0, x1] = gd.layout[name(xaxis)].range;
        const [y0, y1] = gd.layout[name(yaxis)].range;
        const w = area.width, h = area.height;
        layers.set(subplot, {
          canvas, ctx, w, h,
          px: (x) => ((x - x0) / (x1 - x0)) * w,
          py: (y) => h - ((y - y0) / (y1 - y0)) * h,
        });
        gd.appendChild(canvas);
      }
      return { run, layer: layers.get(subplot), line: trace.line || {} };
    });
    if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
    // Plotly's own path and head traces give way to the canvases until playback stops (empty,
    // by the same cheap animate that draws a step; `draw` fills them again).
    const hidden = [...race.runs.map((r) => r.path), ...race.runs.map((r) => r.head)];
    const data = hidden.map(() => ({ x: [], y: [] }));
    window.Plotly.animate(gd, { name: "playing", data, traces: hidden }, STILL);
    overlay = { layers, drawn };
  }

  function paintOverlay(t) {
    for (const layer of overlay.layers.values()) layer.ctx.clearRect(0, 0, layer.w, layer.h);
    for (const { run, layer, line } of overlay.drawn) {
      const n = Math.min(t, run.last);
      const { ctx, px, py } = layer;
      ctx.strokeStyle = ctx.fillStyle = run.marker.color;
      ctx.lineWidth = line.width || 2;
      ctx.setLineDash(DASHES[line.dash] || []);
      ctx.beginPath();
      ctx.moveTo(px(run.x[0]), py(run.y[0]));
      for (let i = 1; i <= n; i++) ctx.lineTo(px(run.x[i]), py(run.y[i]));
      ctx.stroke();
      ctx.setLineDash([]);
      paintHead(ctx, px(run.x[n]), py(run.y[n]), t > run.last ? run.ended : run.marker);
    }
  }

  // A head as Plotly draws its marker: a circle, the × of a diverged run, or the arrow of a run
  // that left the window (pointing `angle` degrees clockwise from up).
  function paintHead(ctx, x, y, marker) {
    const r = (marker.size || 11) / 2;
    ctx.save();
    ctx.translate(x, y);
    ctx.rotate(((marker.angle || 0) * Math.PI) / 180);
    ctx.fillStyle = marker.color;
    ctx.strokeStyle = marker.line?.color || "#1F2430";
    ctx.lineWidth = marker.line?.width ?? 1.5;
    ctx.beginPath();
    if (marker.symbol === "x") {
      const a = r * 0.75;
      ctx.lineWidth = r / 2;
      ctx.strokeStyle = marker.color;
      ctx.moveTo(-a, -a); ctx.lineTo(a, a);
      ctx.moveTo(a, -a); ctx.lineTo(-a, a);
      ctx.stroke();
    } else {
      if (marker.symbol === "arrow") {
        ctx.moveTo(0, -r); ctx.lineTo(r * 0.8, r * 0.7); ctx.lineTo(-r * 0.8, r * 0.7);
        ctx.closePath();
      } else {
        ctx.arc(0, 0, r, 0, 2 * Math.PI);
      }
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }

  function closeOverlay() {
    if (!overlay) return;
    for (const layer of overlay.layers.values()) layer.canvas.remove();
    overlay = null;
  }

  function setPlaying(playing) {
    player.playing = playing;
    button.textContent = playing ? "❚❚ Pause" : "▶ Play";
    button.setAttribute("aria-label", playing ? "Pause" : "Play");
    host.dataset.playing = String(playing);
  }

  async function play() {
    const gd = chart();
    if (!gd) return;
    if (player.t >= player.steps) player.t = 0;
    setPlaying(true);
    const raceId = player.raceId;
    const from = player.t;
    const perSecond = player.steps / player.seconds;
    const mostPerFrame = Math.ceil(perSecond / 60) + 1;
    const began = performance.now();
    openOverlay(gd);
    show(from);
    paintOverlay(from);
    while (player.playing && player.raceId === raceId && player.t < player.steps) {
      await new Promise(requestAnimationFrame);
      // Time decides the step, so a race lasts about `seconds` on any machine: a step a
      // display frame at 60 steps a second, several when the race is long. After a slow frame
      // it catches up one extra step a frame, so the paths never jump ahead.
      const due = from + Math.floor(((performance.now() - began) / 1000) * perSecond);
      const t = Math.min(player.steps, due, player.t + mostPerFrame);
      if (t > player.t && overlay) {
        show(t);
        paintOverlay(t);
      }
    }
    closeOverlay();
    if (player.raceId === raceId) {
      setPlaying(false);
      threeD.step(player.t, true);
      await draw(player.t); // the figure itself at the step playback stopped on
    }
  }

  button.addEventListener("click", () => (player.playing ? setPlaying(false) : play()));
  scrub.addEventListener("input", () => {
    setPlaying(false);
    show(Number(scrub.value));
    draw(player.t);
  });

  // A new race (or the first): the chart shows its complete paths, t = T, unless `at` says
  // which step to show.
  return function load(raceId, steps, seconds, at = steps) {
    if (raceId === player.raceId) return;
    setPlaying(false);
    Object.assign(player, { raceId, steps, seconds });
    scrub.max = String(steps);
    show(at);
    if (at !== steps) draw(at);
  };
}

// The 3-D view in step with the player: each chart whose figure is `surface_3d_figure`'s for
// the player's race (`layout.meta.race3d.id`) shows each lifted path up to step t and its head
// there. `Plotly.restyle` of a scatter3d recomputes the whole scene (surface, contours, axis
// labels): most of a second a call in software WebGL. So each path and head goes straight to
// its WebGL object in Plotly's scene (`scene.traces[uid].update`, where restyle ends up, given
// the trace's full data cut at t), the figure's data is kept in step, and the scene is drawn
// once; a Plotly without those internals gets the restyle, at stops and scrubs only.
// While playing, the 3-D view follows at most `PER_SECOND` times a second and takes at most a
// quarter of the time (software WebGL can spend most of a second rendering one frame of the
// scene), so the 2-D race keeps its every-frame pace; a stop or a scrub shows the exact step.
// A 3-D chart that appears later (the toggle turned on) or is drawn again (the app re-sent it)
// is brought to step t as soon as Plotly has drawn it. `host`: the player's controls.
function optvizRace3d(player, host) {
  const PER_SECOND = 15;
  const decoded = new Map();
  const hooked = new WeakSet();
  let next = -Infinity; // when playback may update the 3-D view again
  let drawnAt = null; // when it last did, until the next step measures what that cost

  function decode(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Float32Array(bytes.buffer);
  }

  function runs(race) {
    if (!decoded.has(race.id)) {
      decoded.clear();
      decoded.set(
        race.id,
        race.runs.map((run) => ({ ...run, x: decode(run.x), y: decode(run.y), z: decode(run.z) })),
      );
    }
    return decoded.get(race.id);
  }

  function ours(gd) {
    return gd.layout?.meta?.race3d?.id === player.raceId && gd._fullData !== undefined;
  }

  // What step t changes: each path cut at t, each head at its point t.
  function changes(race, t) {
    const all = runs(race);
    const cut = (run, n) => ({ x: run.x.subarray(0, n + 1), y: run.y.subarray(0, n + 1),
      z: run.z.subarray(0, n + 1) });
    const at = (run, n) => ({ x: [run.x[n]], y: [run.y[n]], z: [run.z[n]] });
    return [
      ...all.map((run) => ({ trace: run.path, ...cut(run, Math.min(t, run.last)) })),
      ...all.map((run) => ({
        trace: run.head, ...at(run, Math.min(t, run.last)),
        marker: t > run.last ? run.ended : run.marker,
      })),
    ];
  }

  // Straight into Plotly's WebGL scene; false if this Plotly has no such internals.
  function update(gd, edits) {
    const scene = gd._fullLayout.scene?._scene;
    const objects = edits.map((e) => scene?.traces?.[gd._fullData[e.trace]?.uid]);
    if (!scene?.glplot || !objects.every((o) => typeof o?.update === "function")) return false;
    edits.forEach((e, i) => {
      const full = gd._fullData[e.trace];
      const data = gd.data[e.trace];
      for (const axis of ["x", "y", "z"]) full[axis] = data[axis] = e[axis];
      if (full._length !== undefined) full._length = e.x.length;
      if (e.marker) {
        full.marker = { ...full.marker, symbol: e.marker.symbol };
        data.marker = { ...data.marker, symbol: e.marker.symbol };
      }
      objects[i].update(full);
    });
    scene.glplot.redraw(); // now, not on the scene's next frame: where `step` sees the cost
    return true;
  }

  // Step t on one 3-D chart, unless it shows it already (so a redraw it causes ends here).
  function apply(gd, t) {
    const race = gd.layout.meta.race3d;
    const shown = runs(race).every(
      (run) => gd._fullData[run.path]?.x?.length === Math.min(t, run.last) + 1,
    );
    if (shown) return false;
    const edits = changes(race, t);
    if (update(gd, edits)) return true;
    if (player.playing) return false;
    const restyle = { x: [], y: [], z: [], marker: [] };
    for (const e of edits) {
      for (const axis of ["x", "y", "z"]) restyle[axis].push(e[axis]);
      restyle.marker.push(e.marker); // undefined for a line: its marker stays as it is
    }
    window.Plotly.restyle(gd, restyle, edits.map((e) => e.trace));
    return true;
  }

  function hook() {
    for (const gd of document.querySelectorAll(".js-plotly-plot")) {
      if (hooked.has(gd) || !gd.on) continue;
      hooked.add(gd);
      gd.on("plotly_afterplot", () => {
        if (ours(gd)) apply(gd, player.t);
      });
      if (ours(gd)) apply(gd, player.t);
    }
  }
  let scan = 0;
  new MutationObserver(() => {
    if (!host.isConnected) return; // a player no longer on the page watches for nothing
    scan ||= requestAnimationFrame(() => {
      scan = 0;
      hook();
    });
  }).observe(document.body, { childList: true, subtree: true });

  return {
    // Step t on every 3-D chart of the race; while playing, paced as above (the last step and
    // `exact` always).
    step(t, exact = false) {
      if (!window.Plotly) return;
      const now = performance.now();
      if (drawnAt !== null) {
        // WebGL renders after the script returns, so the frame that follows an update of the
        // 3-D view tells what it cost; the next one waits three times that.
        next = Math.max(next, now + 3 * (now - drawnAt));
        drawnAt = null;
      }
      if (!exact && player.playing && t < player.steps && now < next) return;
      hook();
      const charts = [...document.querySelectorAll(".js-plotly-plot")].filter(ours);
      if (charts.map((gd) => apply(gd, t)).some(Boolean)) {
        drawnAt = performance.now();
        next = now + 1000 / PER_SECOND;
      }
    },
  };
}
