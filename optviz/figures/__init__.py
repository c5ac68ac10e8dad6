"""Pure Plotly builders: results in, ``go.Figure`` out.

Builders never run the engine, import Streamlit, call ``.show()`` or write files, so tests
inspect the figures directly and pages call them with results they computed (and cached). Every
builder of the explorer draws start index ``b = 0`` (the page races from one start point), takes
each optimizer's colour and internals from ``OPTIMIZERS`` and sends no NaN or inf to the
browser. The modules, by job:

* ``race``, ``surface``, ``curves``, ``internals``, ``training``, ``experiments``: the
  builders;
* ``labels``: run names, colours, dashes and the sentences about a race (divergence notes);
* ``layout``: the layout every figure shares (bands, subplot grids, reference lines);
* ``transport``: float32 typed arrays and the PNG encoder.
"""

from optviz.figures.curves import distance_figure, loss_figure, progress_figure
from optviz.figures.internals import bias_correction_figure, moments_figure, step_size_figure
from optviz.figures.labels import divergence_note, run_names
from optviz.figures.layout import new_figure
from optviz.figures.race import race_figure, race_spec
from optviz.figures.surface import surface_3d_figure

__all__ = [
    "bias_correction_figure",
    "distance_figure",
    "divergence_note",
    "loss_figure",
    "moments_figure",
    "new_figure",
    "progress_figure",
    "race_figure",
    "race_spec",
    "run_names",
    "step_size_figure",
    "surface_3d_figure",
]
