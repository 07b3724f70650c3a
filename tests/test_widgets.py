import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from equinotes import widgets  # noqa: E402


def render(value):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.set_title(str(value))
    return fig


def test_figure_png_returns_png_bytes():
    assert widgets.figure_png(render(1))[:8] == b"\x89PNG\r\n\x1a\n"


def test_slider_explorer_links_slider_and_frames():
    box = widgets.slider_explorer(render, [1, 2, 3], description="k", start=1)
    slider, stack = box.children
    assert slider.max == 2 and slider.value == 1 and stack.selected_index == 1
    assert len(stack.children) == 3 and all(
        frame.value[:4] == b"\x89PNG" for frame in stack.children
    )
    slider.value = 2  # the jslink is mirrored in the browser; the frames themselves never need a kernel
    assert "equinotes-explorer" in box._dom_classes
    # the text a static page shows for the widget is one short line, not the frames' bytes
    plain = box._repr_mimebundle_()["text/plain"]
    assert plain == "<slider explorer: 3 frames>"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"render": "f"}, TypeError),
        ({"values": [1]}, ValueError),
        ({"start": 5}, ValueError),
        ({"render": lambda v: "not a figure"}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    args = {"render": render, "values": [1, 2]}
    args.update(kwargs)
    with pytest.raises(error):
        widgets.slider_explorer(**args)


def test_figure_png_rejects_non_figures():
    with pytest.raises(TypeError, match="Figure"):
        widgets.figure_png("not a figure")
