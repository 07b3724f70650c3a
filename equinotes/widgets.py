"""Explorations that work live (Jupyter, Colab) *and* on the static site, from one helper.

``slider_explorer`` renders a figure for each value on a grid, once, at execution time, and shows them
in an ipywidgets ``Stack`` switched by a slider. The slider and the stack are tied with ``jslink``,
which runs in the browser, so the saved widget state keeps working on the built site with no kernel.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

__all__ = ["figure_png", "slider_explorer"]


def figure_png(fig, dpi: int = 90) -> bytes:
    """PNG bytes of a matplotlib figure (the figure is closed afterwards)."""
    import matplotlib.pyplot as plt

    if not hasattr(fig, "savefig"):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def slider_explorer(
    render: Callable,
    values: Sequence,
    description: str = "value",
    dpi: int = 90,
    start: int = 0,
    progress: bool = False,
):
    """A slider over precomputed figures.

    Args:
        render: ``render(value) -> matplotlib Figure`` (put the value in the title: the label under the
            slider shows only its index).
        values: the grid of values, at least 2.
        description: the slider's label.
        dpi: resolution of each frame.
        start: index shown first.
        progress: show a tqdm bar while the frames render.
    Returns:
        an ``ipywidgets.VBox`` (display it, or leave it as the cell's last expression).
    """
    import ipywidgets as widgets

    if not callable(render):
        raise TypeError("render must be a callable value -> matplotlib Figure")
    values = list(values)
    if len(values) < 2:
        raise ValueError(
            f"values needs at least 2 entries for a slider, got {len(values)}"
        )
    if not 0 <= start < len(values):
        raise ValueError(f"start must index values (0..{len(values) - 1}), got {start}")
    iterator = values
    if progress:
        from .utils import progress as progress_bar

        iterator = progress_bar(values, desc="rendering frames", leave=False)
    frames = []
    for v in iterator:
        fig = render(v)
        if not hasattr(fig, "savefig"):
            raise TypeError(
                f"render({v!r}) must return a matplotlib Figure, got {type(fig).__name__}"
            )
        frames.append(widgets.Image(value=figure_png(fig, dpi=dpi), format="png"))
    stack = widgets.Stack(children=frames, selected_index=start)
    slider = widgets.IntSlider(
        value=start,
        min=0,
        max=len(values) - 1,
        step=1,
        description=description,
        continuous_update=True,
        readout=True,
    )
    widgets.jslink((slider, "value"), (stack, "selected_index"))

    class _Explorer(widgets.VBox):
        # the text/plain form a static page or a terminal shows: one short line, not the frames' PNG bytes
        def __repr__(self):
            return f"<slider explorer: {len(frames)} frames>"

    box = _Explorer([slider, stack])
    box.add_class("equinotes-explorer")
    return box
