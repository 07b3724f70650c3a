import numpy as np
import pytest
from IPython.display import HTML

from equinotes.tables import HTMLTable, format_cell, html_table


def test_exact_output_of_a_small_table():
    table = html_table(["name", "value"], [["a", 0.123456], ["b", 2]], caption="c")
    assert table == (
        "<table><caption>c</caption>"
        "<thead><tr><th>name</th><th>value</th></tr></thead>"
        "<tbody><tr><td>a</td><td>0.123</td></tr><tr><td>b</td><td>2</td></tr></tbody>"
        "</table>"
    )


def test_is_a_str_that_jupyter_shows_as_html():
    table = html_table(["a"], [[1]])
    assert isinstance(table, str) and isinstance(table, HTMLTable)
    assert table._repr_html_() == str(table) == table.data
    assert HTML(table).data == str(table)


def test_escapes_header_cells_and_caption():
    table = html_table(["x<y"], [["a&b"], ["<script>"]], caption='"q"')
    assert "<th>x&lt;y</th>" in table and "<td>a&amp;b</td>" in table
    assert "&lt;script&gt;" in table and "<script>" not in table
    assert "<caption>&quot;q&quot;</caption>" in table


def test_floats_bools_and_nan():
    assert format_cell(0.000123456) == "0.000123"
    assert format_cell(123456.0) == "1.23e+05"
    assert format_cell(2 / 3, digits=2) == "0.67"
    assert format_cell(np.float32(0.1234567)) == "0.123"
    assert format_cell(float("nan")) == "–"
    assert format_cell(True) == "yes" and format_cell(np.bool_(False)) == "no"
    assert format_cell(7) == "7" and format_cell(np.int64(7)) == "7"
    table = html_table(["v"], [[1.23456]], digits=5)
    assert "<td>1.2346</td>" in table


def test_align_one_for_all_or_one_per_column():
    table = html_table(["a", "b"], [[1, 2]], align=["left", "right"])
    assert '<td style="text-align:left">1</td>' in table
    assert '<th style="text-align:right">b</th>' in table
    assert html_table(["a", "b"], [[1, 2]], align="center").count("center") == 4


def test_rows_may_be_tuples_generators_and_empty():
    table = html_table(("a", "b"), ((1, 2) for _ in range(2)))
    assert table.count("<tr>") == 3
    assert "<tbody></tbody>" in html_table(["a"], [])


@pytest.mark.parametrize(
    "header, rows, kwargs, error, match",
    [
        (["a", "b"], [[1]], {}, ValueError, "row 0 has 1 cells; every row needs 2"),
        (["a"], [[1], [1, 2]], {}, ValueError, "row 1 has 2 cells"),
        ([], [], {}, ValueError, "at least one column"),
        (["a"], [[1]], {"digits": 0}, ValueError, "digits must be >= 1"),
        (["a"], [[1]], {"digits": 2.0}, TypeError, "digits must be an integer"),
        (["a"], [[1]], {"digits": True}, TypeError, "digits must be an integer"),
        ("ab", [[1, 2]], {}, TypeError, "header must be a list"),
        (["a"], ["x"], {}, TypeError, "row 0 must be a list"),
        (["a"], [5], {}, TypeError, "row 0 must be a list"),
        (["a", "b"], [[1, 2]], {"align": ["left"]}, ValueError, "one per column"),
        (["a"], [[1]], {"align": "middle"}, ValueError, "align must be one of"),
    ],
)
def test_bad_input_raises_clearly(header, rows, kwargs, error, match):
    with pytest.raises(error, match=match):
        html_table(header, rows, **kwargs)
