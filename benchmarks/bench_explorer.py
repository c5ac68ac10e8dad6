"""Explorer responsiveness and payload, measured on the real page through Streamlit's AppTest.

1. Rerun after a slider move (a new α for Adam), default view: goal ≤ 300 ms server side.
2. Rerun of a view seen before (the slider moved back: every computation is a cache hit):
   goal ≤ 50 ms.
3. Animation payload for 4 optimizers × 500 steps: goal ≤ 1.5 MB.
4. Diagnosis, no goal: what each figure of the default view costs to build, and why builders
   assemble dicts and validate once (against plotly's incremental ``add_trace`` /
   ``update_layout``) and cache their subplot grids (against a ``make_subplots`` call).

Times are medians over repeats and are printed with their ratio to the goal, next to the time of
a bare rerun of the same page measured in the same run (the floor set by Streamlit itself).
AppTest compiles the page afresh on every run, which a server does once (its ScriptCache keeps
the bytecode); the benchmark gives AppTest one cache, as the server has, so the compile is not
counted, and prints what it costs.
Run: ``python benchmarks/bench_explorer.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import plotly.graph_objects as go  # noqa: E402
from plotly.subplots import make_subplots  # noqa: E402
from streamlit.testing.v1 import AppTest, local_script_runner  # noqa: E402

from optviz import figures  # noqa: E402
from optviz.figures.layout import new_figure, subplots_layout  # noqa: E402
from optviz.surfaces import SURFACES  # noqa: E402
from optviz.trajectories import simulate  # noqa: E402

PAGE = str(ROOT / "pages" / "explorer.py")
ADAM_LR = "explorer_adam_lr"


def timed(action) -> float:
    begin = time.perf_counter()
    action()
    return time.perf_counter() - begin


def median_time(action, repeats: int) -> float:
    return statistics.median(timed(action) for _ in range(repeats))


def figure_costs(result, repeats: int) -> None:
    """Item 4: build time of each builder, and the two choices the builders rest on."""
    builders = {
        "race": lambda: figures.race_figure(result),
        "loss": lambda: figures.loss_figure(result),
        "distance": lambda: figures.distance_figure(result),
        "step size": lambda: figures.step_size_figure(result, 3),
        "internals": lambda: figures.moments_figure(result, 3),
    }
    for name, build in builders.items():
        print(f"build {name} figure: {median_time(build, repeats) * 1e3:.1f} ms")
    fig = figures.loss_figure(result)
    traces, layout = [t.to_plotly_json() for t in fig.data], fig.layout.to_plotly_json()

    def incremental() -> None:
        built = new_figure()
        for trace in traces:
            built.add_trace(trace)
        built.update_layout(layout)

    once = median_time(lambda: go.Figure(traces, layout), repeats)
    print(
        f"loss figure validated once: {once * 1e3:.1f} ms; built with add_trace/update_layout: "
        f"{median_time(incremental, repeats) / once:.1f} × that"
    )
    titles = ["g", "m", "v"]
    cached = median_time(lambda: subplots_layout(3, 1, titles, shared_xaxes=True), repeats)
    fresh = median_time(lambda: make_subplots(rows=3, cols=1, shared_xaxes=True), repeats)
    print(
        f"3-row subplot layout from the cached grid: {cached * 1e3:.2f} ms; "
        f"a make_subplots call: {fresh / cached:.0f} × that"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats

    compile_s = timed(lambda: local_script_runner.ScriptCache().get_bytecode(PAGE))
    server_cache = local_script_runner.ScriptCache()  # one per server, as in streamlit run
    local_script_runner.ScriptCache = lambda: server_cache
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    options = [float(v) for v in at.select_slider(key=ADAM_LR).options]  # labels, as text
    start = options.index(at.select_slider(key=ADAM_LR).value)
    fresh, cached, bare = [], [], []
    for i in range(repeats):
        # A value not seen before (walk down the α grid), then back to the previous one.
        new_value = options[start - 1 - i]
        old_value = at.select_slider(key=ADAM_LR).value
        fresh.append(timed(lambda v=new_value: at.select_slider(key=ADAM_LR).set_value(v).run()))
        cached.append(timed(lambda v=old_value: at.select_slider(key=ADAM_LR).set_value(v).run()))
        bare.append(timed(at.run))
        assert not at.exception, at.exception
    floor = statistics.median(bare)
    for name, samples, goal in (("slider move", fresh, 0.300), ("view seen before", cached, 0.050)):
        median = statistics.median(samples)
        print(
            f"explorer rerun, {name}: {median * 1e3:.0f} ms = {median / goal:.2f} × the "
            f"{goal * 1e3:.0f} ms goal; {median / floor:.1f} × a bare rerun ({floor * 1e3:.0f} ms)"
        )

    print(
        f"(not counted above: compiling the page, which AppTest repeats each run: "
        f"{compile_s * 1e3:.0f} ms)"
    )

    surface = SURFACES["rosenbrock"]
    runs = [("sgd", {"lr": 2e-3}), ("momentum", {"lr": 2e-3}), ("rmsprop", {}), ("adam", {})]
    result = simulate(surface, runs, surface.start, 500)
    for side_by_side in (False, True):
        size = len(figures.race_figure(result, side_by_side=side_by_side).to_json())
        view = "side by side" if side_by_side else "overlay"
        print(
            f"animation payload, 4 optimizers × 500 steps, {view}: {size / 1e6:.2f} MB = "
            f"{size / 1.5e6:.2f} × the 1.5 MB goal"
        )
    (race,) = [c for c in at.get("bidi_component") if c.proto.component_name == "optviz_race"]
    print(f"default view's race figure as sent: {len(race.proto.bytes) / 1e6:.2f} MB")
    figure_costs(simulate(surface, runs, surface.start, 300), repeats)


if __name__ == "__main__":
    main()
