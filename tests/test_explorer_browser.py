"""The explorer in a real Chromium against `streamlit run app.py`: the surface with the
optimizers' paths loads with its player above the fold, Play animates every step in the browser,
the scrubber goes back to any step, the 3-D view follows the player, and moving a slider, a click
on an optimizer's pill or on the race changes the race."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    StreamlitServer,
    assert_no_app_errors,
    expect_rerun,
    move_slider,
    open_app,
    plotly_data,
)

from optviz import export
from optviz.trajectories import simulate


def path_names(traces: list[dict[str, Any]]) -> set[str]:
    return {
        t["name"] for t in traces if t.get("type") == "scatter" and "lines" in t.get("mode", "")
    }


def path_lengths(traces: list[dict[str, Any]]) -> dict[str, int]:
    """Points in each optimizer's path trace (the heads, named alike, are markers only)."""
    return {
        t["name"]: len(t["x"])
        for t in traces
        if t.get("type") == "scatter" and "lines" in t.get("mode", "")
    }


# The race chart's graph div: its figure names the race in layout.meta (see optviz/figures/race.py).
RACE_CHART = "[...document.querySelectorAll('.js-plotly-plot')].find((gd) => gd.layout.meta?.race)"
PLAYER = ".optviz-player"


def race_steps(page: Any) -> int:
    return int(page.evaluate(f"() => {RACE_CHART}.layout.meta.race.steps"))


# Whether every run's path trace in the race chart holds `n` points (the player drew step n − 1).
DRAWN_LENGTHS = f"""(n) => {{
  const gd = {RACE_CHART};
  return gd?._fullData !== undefined
    && gd.layout.meta.race.runs.every((run) => gd._fullData[run.path].x.length === n);
}}"""


@pytest.mark.browser
def test_explorer_loads_the_race_with_every_optimizers_path_and_its_player(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    traces = plotly_data(page, 0)
    assert traces[0]["type"] == "heatmap"
    assert len(path_names(traces)) >= 3
    steps = race_steps(page)
    player = page.locator(PLAYER)
    assert player.get_attribute("data-step") == str(steps)  # the finished race, complete paths
    assert player.get_attribute("data-playing") == "false"
    assert page.get_by_role("slider", name="Step of the race").input_value() == str(steps)
    # Race and player above the fold, unscrolled: a new visitor sees the Play button.
    assert page.evaluate("() => window.scrollY") == 0
    for element in (page.locator(".optviz-race-chart"), player):
        box = element.bounding_box()
        assert box is not None and box["y"] >= 0
        assert box["y"] + box["height"] <= page.viewport_size["height"]
    assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_play_draws_the_race_step_by_step_and_the_scrubber_goes_back_to_any_step(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    steps = race_steps(page)
    page.evaluate(
        f"""() => {{
          window.__frames = [];
          const record = (e) => window.__frames.push(e.detail.step);
          document.querySelector("{PLAYER}").addEventListener("optviz-frame", record);
        }}"""
    )
    page.get_by_role("button", name="Play").click()
    # The last frame is step T, and the player says it stopped there.
    page.wait_for_function(
        """([player, steps]) => {
          const frames = window.__frames, el = document.querySelector(player);
          return frames.at(-1) === steps && el.dataset.playing === "false";
        }""",
        arg=[PLAYER, steps],
        timeout=60_000,
    )
    frames = page.evaluate("window.__frames")
    assert frames[0] <= steps // 10 and frames[-1] == steps
    assert all(b > a for a, b in itertools.pairwise(frames))  # only forwards
    assert len(frames) >= 10
    page.wait_for_function(DRAWN_LENGTHS, arg=steps + 1)  # the figure itself at step T again
    assert page.get_by_role("button", name="Play").is_visible()  # Pause turned back into Play

    scrubber = page.get_by_role("slider", name="Step of the race")
    scrubber.focus()
    page.keyboard.press("Home")
    page.wait_for_function(
        "player => document.querySelector(player).dataset.step === '0'", arg=PLAYER
    )
    page.wait_for_function(DRAWN_LENGTHS, arg=1)  # every run at its start point
    page.keyboard.press("ArrowRight")
    page.wait_for_function(DRAWN_LENGTHS, arg=2)
    assert_no_app_errors(page, app_server_process)


# The 3-D chart's graph div: its figure names the race in layout.meta.race3d (surface.py).
CHART_3D = "[...document.querySelectorAll('.js-plotly-plot')].find((gd) => gd.layout.meta?.race3d)"

# Whether the 3-D chart shows step t: each lifted path holds its points up to t, its head there.
DRAWN_3D = f"""(t) => {{
  const gd = {CHART_3D};
  return gd?._fullData !== undefined && gd.layout.meta.race3d.runs.every((run) => {{
    const path = gd._fullData[run.path], head = gd._fullData[run.head];
    return path.x.length === Math.min(t, run.last) + 1 && head.x.length === 1
      && head.x[0] === path.x[path.x.length - 1] && head.z[0] === path.z[path.z.length - 1];
  }});
}}"""


@pytest.mark.browser
def test_the_3d_view_follows_play_pause_and_the_scrubber(
    app_server_process: StreamlitServer, page: Any
) -> None:
    # Software WebGL on a loaded machine takes its time over the first 3-D render.
    open_app(page, app_server_process.url, "?3d=true", timeout_ms=180_000)
    steps = race_steps(page)
    # No run of the default race diverges: at the end every lifted path holds T + 1 points.
    lasts = page.evaluate(f"() => {CHART_3D}.layout.meta.race3d.runs.map((run) => run.last)")
    assert lasts and set(lasts) == {steps}
    page.wait_for_function(DRAWN_3D, arg=steps)
    # Pause a third of the way in, from the frame event itself (no race against the clock), and
    # record what the 3-D view holds after each frame.
    page.evaluate(
        f"""(steps) => {{
          window.__frames = [];
          const player = document.querySelector("{PLAYER}");
          player.addEventListener("optviz-frame", (e) => {{
            const gd = {CHART_3D}, first = gd.layout.meta.race3d.runs[0];
            window.__frames.push([e.detail.step, gd._fullData[first.path].x.length]);
            if (!window.__paused && e.detail.step >= steps / 3) {{
              window.__paused = true;
              player.querySelector(".play").click();
            }}
          }});
        }}""",
        steps,
    )
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "player => window.__paused && document.querySelector(player).dataset.playing === 'false'",
        arg=PLAYER,
        timeout=60_000,
    )
    paused = int(page.locator(PLAYER).get_attribute("data-step") or -1)
    assert steps / 3 <= paused < steps
    page.wait_for_function(DRAWN_3D, arg=paused)  # the 3-D view at the step Play stopped on
    page.wait_for_function(DRAWN_LENGTHS, arg=paused + 1)  # and the race
    frames = page.evaluate("window.__frames")
    assert frames[0] == [0, 1]  # Play from the end starts over: both views at the start
    # While playing, the 3-D view moved forwards with the race and never ahead of it.
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(frames))
    assert all(length <= step + 1 for step, length in frames)

    page.get_by_role("button", name="Play").click()  # on from the pause to the end
    page.wait_for_function(
        """([player, steps]) => {
          const el = document.querySelector(player);
          return el.dataset.step === String(steps) && el.dataset.playing === "false";
        }""",
        arg=[PLAYER, steps],
        timeout=60_000,
    )
    page.wait_for_function(DRAWN_3D, arg=steps)

    scrubber = page.get_by_role("slider", name="Step of the race")
    scrubber.focus()
    page.keyboard.press("Home")
    page.wait_for_function(DRAWN_3D, arg=0)  # one point a path, at the start
    page.keyboard.press("ArrowRight")
    page.wait_for_function(DRAWN_3D, arg=1)
    assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_the_3d_view_turned_on_at_a_step_opens_at_that_step(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    scrubber = page.get_by_role("slider", name="Step of the race")
    scrubber.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(DRAWN_LENGTHS, arg=2)
    with expect_rerun(page, timeout_ms=180_000):  # software WebGL: the first 3-D render is slow
        page.get_by_text("3-D surface").click()
    page.wait_for_function(DRAWN_3D, arg=1)  # the new chart, at the player's step
    assert page.locator(PLAYER).get_attribute("data-step") == "1"
    page.wait_for_function(DRAWN_LENGTHS, arg=2)  # the race kept its step through the rerun
    assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_moving_a_slider_changes_the_chart(app_server_process: StreamlitServer, page: Any) -> None:
    open_app(page, app_server_process.url)
    before = path_lengths(plotly_data(page, 0))
    value = move_slider(page, "Steps", 2)
    assert value != "300"
    after = path_lengths(plotly_data(page, 0))
    assert after != before and len(after) >= 3
    assert "steps=" in page.url  # the link follows the view
    assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_a_click_on_an_optimizers_pill_adds_it_to_the_race_and_another_drops_it(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    before = path_names(plotly_data(page, 0))
    race = page.locator('[data-testid="stSidebar"] [data-testid="stButtonGroup"]').filter(
        has_text="Race"
    )
    pill = race.get_by_role("button", name="Nesterov", exact=True)
    with expect_rerun(page):
        pill.click()
    added = path_names(plotly_data(page, 0)) - before
    assert len(added) == 1 and next(iter(added)).startswith("Nesterov (α = "), added  # tuned
    assert "nesterov" in page.url  # the link follows the view
    with expect_rerun(page):
        pill.click()
    assert path_names(plotly_data(page, 0)) == before
    assert "nesterov" not in page.url
    assert_no_app_errors(page, app_server_process)


# Where the data point (x, y) lies on the one-panel race, in page pixels (from the plot area and
# the axes' fixed ranges, as the player draws).
POINT_ON_RACE = f"""([x, y]) => {{
  const gd = {RACE_CHART};
  const r = gd.querySelector('.nsewdrag[data-subplot="xy"]').getBoundingClientRect();
  const [x0, x1] = gd.layout.xaxis.range;
  const [y0, y1] = gd.layout.yaxis.range;
  return [r.left + ((x - x0) / (x1 - x0)) * r.width, r.top + ((y1 - y) / (y1 - y0)) * r.height];
}}"""


@pytest.mark.browser
def test_a_click_on_the_race_starts_every_optimizer_there(
    app_server_process: StreamlitServer, page: Any
) -> None:
    open_app(page, app_server_process.url)
    target = (0.5, 1.0)
    with expect_rerun(page):
        page.mouse.click(*page.evaluate(POINT_ON_RACE, list(target)))
    # A pixel is about 0.01 of Rosenbrock's window: the start is where the mouse was, to that.
    x0 = float(page.get_by_label("Start x₀").input_value())
    y0 = float(page.get_by_label("Start y₀").input_value())
    assert abs(x0 - target[0]) < 0.02 and abs(y0 - target[1]) < 0.02, (x0, y0)
    paths = [t for t in plotly_data(page, 0) if t.get("type") == "scatter" and "lines" in t["mode"]]
    assert len(paths) >= 3
    assert all((t["x"][0], t["y"][0]) == pytest.approx((x0, y0)) for t in paths)
    assert "x0=" in page.url and "y0=" in page.url  # the link follows the view
    assert_no_app_errors(page, app_server_process)


@pytest.mark.browser
def test_the_exported_page_opens_at_step_0_with_the_same_player(page: Any, tmp_path: Path) -> None:
    result = simulate("rosenbrock", [("adam", {"lr": 0.05}), ("sgd", {"lr": 1e-3})], (-1.5, 2), 40)
    exported = tmp_path / "race.html"
    exported.write_text(export.standalone_html(result, side_by_side=False), encoding="utf-8")
    page.goto(exported.as_uri())
    assert page.title() == "optviz race on Rosenbrock"
    page.wait_for_function(
        "player => document.querySelector(player)?.dataset.step === '0'", arg=PLAYER
    )
    page.wait_for_function(DRAWN_LENGTHS, arg=1)  # the first frame: every run at its start
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "player => document.querySelector(player).dataset.step === '40'"
        " && document.querySelector(player).dataset.playing === 'false'",
        arg=PLAYER,
        timeout=30_000,
    )
    page.wait_for_function(DRAWN_LENGTHS, arg=41)
