// The explorer's charts, each an `st.components.v2` element (see `optviz.ui.chart_view`), and the
// race chart with its player (`race_player.js`) under it as one element (`optviz.ui.race_view`).
//
// Why not `st.plotly_chart`: Streamlit names a chart after its figure, so every new figure was a
// new element: plotly.js built the whole plot from scratch, twice (on mount, then on update),
// after Streamlit had re-themed the figure's JSON. Here one graph div lives as long as the
// element, and each new figure goes to `Plotly.react`, which redraws what changed: the race's
// paths move, the surface's backdrop image stays.
//
// plotly.js is the one Streamlit's own charts use (`optvizPlotly`, plotly_loader.js, which comes
// before this file; the module's name is the server's, `data.plotly`).
//
// Signals for tests and benchmarks: each chart's box (`.optviz-chart`; the race's is also
// `.optviz-race-chart`) carries the id of the figure it shows in `data-figure` and `data-state`
// "drawing", "drawn" or "failed"; the figure's id is also in the element's data (`figure_id`),
// as the app sent it.

// A chart the width of its column follows the window; the race has a size of its own.
const OPTVIZ_CHART_CONFIG = { displaylogo: false };

// Streamlit's look for a chart (what it does to its own charts' figures), in the colours and
// font of the theme it hands every component as CSS properties.
function optvizChartTheme(element) {
  const css = getComputedStyle(element);
  const value = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const text = value("--st-text-color", "#31333F");
  const background = value("--st-background-color", "#FFFFFF");
  const border = value("--st-border-color", "#DCD8D4");
  const family = value("--st-font", "sans-serif");
  const faded = optvizFaded(text, 0.7);
  const grid = optvizFaded(border, 0.6);
  const axis = (standoff) => ({
    gridcolor: grid, zerolinecolor: grid, tickcolor: grid, automargin: true,
    ticklabelposition: "outside", tickfont: { color: faded, size: 12 },
    title: { font: { color: faded, size: 14 }, standoff },
  });
  return {
    font: { family, color: faded, size: 12 },
    title: { font: { family, color: text, size: 16 }, xanchor: "left", x: 0, pad: { l: 4 } },
    legend: { font: { color: text, size: 12 }, bordercolor: "transparent", valign: "top" },
    paper_bgcolor: background,
    plot_bgcolor: background,
    margin: { pad: 8, r: 0, l: 0 },
    xaxis: { ...axis(20), showgrid: false, zeroline: false },
    yaxis: axis(24),
    hoverlabel: { bgcolor: background, bordercolor: border, font: { family, color: text } },
  };
}

// A CSS colour ("#RRGGBB" or "rgb(…)") at `alpha`, as plotly.js reads colours.
function optvizFaded(color, alpha) {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  const rgb = hex ? hex.slice(1).map((h) => parseInt(h, 16)) : color.match(/\d+/g)?.slice(0, 3);
  return rgb ? `rgba(${rgb.join(", ")}, ${alpha})` : color;
}

// The race comes first: a chart that is not the race draws once the race on the page (if any)
// has drawn and the browser is idle, so a new race is not kept waiting by the charts under it.
// The race's elements share their pending draw through `window` (each component's code is a
// module of its own). A browser without `requestIdleCallback` (older Safari) waits a task.
async function optvizAfterRace() {
  await window.optvizRaceDrawing;
  await new Promise((resolve) =>
    window.requestIdleCallback
      ? window.requestIdleCallback(resolve, { timeout: 250 })
      : setTimeout(resolve, 0),
  );
}

// One Plotly chart in `box`, kept up to date with the figures the app sends: `update(data)`
// draws `data.figure` (its id `data.figure_id`) unless the box shows it already; `drawn(data)`
// runs after each figure is drawn. `race`: this chart is the race (see `optvizAfterRace`).
function optvizChart(box, drawn = () => {}, race = false) {
  box.classList.add("optviz-chart");
  box.dataset.state = "drawing";
  let latest = null; // the newest data the app sent
  let shown = null; // the figure on show, in parts (`optvizFigureParts`)
  let drawing = false;

  // Draws the newest figure; data that arrives meanwhile is drawn next (only the newest).
  async function drawLatest() {
    drawing = true;
    try {
      while (box.dataset.figure !== latest.figure_id) {
        if (!race) await optvizAfterRace();
        const data = latest;
        box.dataset.state = "drawing";
        const Plotly = await optvizPlotly(data.plotly);
        const { figure } = data;
        const parts = optvizFigureParts(figure);
        const moved = optvizMovedTraces(shown, parts);
        if (moved) {
          // Only points moved (a new race on the same surface, with the same runs): the cheap
          // update the player uses, which redraws those traces and no axis, legend or colour bar.
          box.layout.meta = box._fullLayout.meta = figure.layout.meta;
          const changes = moved.map((i) => optvizDecoded(parts.traces[i].points));
          await Plotly.animate(box, { data: changes, traces: moved }, OPTVIZ_STILL);
        } else {
          // Plotly measures its labels as it draws, and each measurement makes the browser lay
          // out again whatever changed; contained, that is the chart alone, not the whole page.
          Object.assign(box.style, {
            width: figure.layout.width ? `${figure.layout.width}px` : "100%",
            height: `${figure.layout.height ?? 450}px`,
            contain: "strict",
          });
          figure.layout.template = {
            data: figure.layout.template?.data ?? {},
            layout: optvizChartTheme(box.parentElement),
          };
          const config = { ...OPTVIZ_CHART_CONFIG, responsive: !figure.layout.width };
          await Plotly.react(box, figure.data, figure.layout, config);
        }
        shown = parts;
        box.dataset.figure = data.figure_id;
        drawn(data);
      }
      box.dataset.state = "drawn";
    } catch (error) {
      box.dataset.state = "failed";
      throw error;
    } finally {
      drawing = false;
    }
  }

  return function update(data) {
    latest = data;
    if (drawing || box.dataset.figure === data.figure_id) return;
    const done = drawLatest();
    if (race) window.optvizRaceDrawing = done.catch(() => {});
  };
}

const OPTVIZ_STILL = { frame: { duration: 0, redraw: false }, transition: { duration: 0 },
  mode: "immediate" };
const OPTVIZ_POINTS = ["x", "y", "customdata", "marker"]; // what a new race moves

// A figure as the JSON text of what decides how it is drawn (its layout, without the `meta`
// only the race's player reads, and each trace without its points) and each trace's points.
function optvizFigureParts(figure) {
  const { meta, template, ...layout } = figure.layout;
  return {
    layout: JSON.stringify(layout),
    traces: figure.data.map((trace) => {
      const rest = { ...trace };
      const points = {};
      for (const name of OPTVIZ_POINTS) {
        if (name in trace) points[name] = trace[name];
        delete rest[name];
      }
      return { rest: JSON.stringify(rest), points, text: JSON.stringify(points) };
    }),
  };
}

// The traces whose points alone differ from the figure on show, or null if anything else does
// or the axes would have to follow the points (moving points redraws no axis).
function optvizMovedTraces(shown, parts) {
  if (!shown || shown.layout !== parts.layout || shown.traces.length !== parts.traces.length) {
    return null;
  }
  const axes = Object.entries(JSON.parse(parts.layout)).filter(([n]) => /^[xy]axis\d*$/.test(n));
  const fixed = axes.every(([, axis]) => Array.isArray(axis.range) && axis.autorange !== true);
  if (!axes.length || !fixed) return null;
  const moved = [];
  for (const [i, trace] of parts.traces.entries()) {
    if (trace.rest !== shown.traces[i].rest) return null;
    if (trace.text !== shown.traces[i].text) moved.push(i);
  }
  return moved;
}

// Points as `Plotly.animate` takes them: plotly's base64 arrays ({dtype, bdata}) decoded.
function optvizDecoded(points) {
  const decoded = {};
  for (const [name, value] of Object.entries(points)) {
    const Typed = { f4: Float32Array, f8: Float64Array }[value?.dtype];
    decoded[name] = Typed && typeof value.bdata === "string" && !value.shape
      ? new Typed(Uint8Array.from(atob(value.bdata), (c) => c.charCodeAt(0)).buffer)
      : value;
  }
  return decoded;
}

// What the app sends a chart element: one JSON document as bytes (the figure's JSON goes in
// as it is, neither escaped into a string nor parsed and written again).
function optvizChartData(bytes) {
  return JSON.parse(new TextDecoder().decode(bytes));
}

// The race chart with its player under it. A click on a panel sends the app the point under
// the mouse as the trigger "start" (`parent.optvizSetTrigger`: the element's setTriggerValue).
function optvizRaceView(parent) {
  const box = document.createElement("div");
  box.className = "optviz-race-chart";
  parent.appendChild(box);
  const load = optvizRacePlayer(parent, (raceId) =>
    box.layout?.meta?.race?.id === raceId ? box : null,
  );
  let listening = false;
  return optvizChart(box, (data) => {
    if (!listening) {
      listening = true;
      box.on("plotly_click", (event) => {
        const point = event.event && optvizPointAt(box, event.event);
        if (point) parent.optvizSetTrigger?.("start", point);
      });
    }
    load(data.id, data.steps, data.seconds);
  }, true);
}

// The data coordinates {x, y} under `mouse` in the panel it is over (from the panel's plot area
// and its fixed axis ranges, as the player draws), or null outside every panel.
function optvizPointAt(gd, mouse) {
  for (const area of gd.querySelectorAll(".nsewdrag[data-subplot]")) {
    const r = area.getBoundingClientRect();
    const inside = mouse.clientX >= r.left && mouse.clientX <= r.right
      && mouse.clientY >= r.top && mouse.clientY <= r.bottom;
    const axes = area.dataset.subplot.match(/^x(\d*)y(\d*)$/);
    if (!inside || !axes) continue;
    const [x0, x1] = gd.layout[`xaxis${axes[1]}`].range;
    const [y0, y1] = gd.layout[`yaxis${axes[2]}`].range;
    return {
      x: x0 + ((mouse.clientX - r.left) / r.width) * (x1 - x0),
      y: y1 - ((mouse.clientY - r.top) / r.height) * (y1 - y0),
    };
  }
  return null;
}
