// The race's player: ▶ Play / ❚❚ Pause, a step scrubber and a "t = 37 / 300" readout, drawn
// under the race chart and animating its paths in the browser.
//
// The race figure carries no animation frames. `race_figure` (race.py) puts each run's complete
// path in `layout.meta.race` once (float32, base64), and the player cuts each path at step t
// itself, so a frame costs one `Plotly.animate` of the path and head traces (no contour redraw)
// and every step can be a frame, however long the race. The same code runs in the app (as an
// `st.components.v2` component, see `optviz.ui.race_player`) and in the exported HTML page.
//
// Signals for tests and benchmarks: every frame drawn is a `plotly_animatingframe` event of the
// chart whose `frame.name` is its step; the controls (`.optviz-player`) carry `data-step` and
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

  const player = { raceId: null, steps: 0, t: 0, playing: false, decoded: new Map() };
  const hooked = new WeakSet();

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
    const still = { frame: { duration: 0, redraw: false }, transition: { duration: 0 } };
    return window.Plotly.animate(gd, { name: String(t), data, traces }, { ...still, mode: "immediate" });
  }

  function setPlaying(playing) {
    player.playing = playing;
    button.textContent = playing ? "❚❚ Pause" : "▶ Play";
    button.setAttribute("aria-label", playing ? "Pause" : "Play");
    host.dataset.playing = String(playing);
  }

  async function play() {
    if (player.t >= player.steps) show(0);
    setPlaying(true);
    const raceId = player.raceId;
    const from = player.t;
    const perSecond = player.steps / player.seconds;
    const began = performance.now();
    while (player.playing && player.raceId === raceId) {
      // Time decides the step, so a race lasts `seconds` on any machine: one step a display
      // frame while the browser keeps up, several when it draws slower than that.
      const due = from + Math.floor(((performance.now() - began) / 1000) * perSecond);
      const t = Math.min(player.steps, due);
      if (t > player.t) {
        show(t);
        await draw(t);
      }
      if (t >= player.steps) break;
      await new Promise(requestAnimationFrame);
    }
    if (player.raceId === raceId) setPlaying(false);
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

// Plotly's graph div holding the race `raceId` (its figure's layout.meta.race.id), if drawn.
function optvizRaceChart(raceId) {
  for (const gd of document.querySelectorAll(".js-plotly-plot")) {
    if (gd.layout && gd.layout.meta && gd.layout.meta.race && gd.layout.meta.race.id === raceId) {
      return gd;
    }
  }
  return null;
}
