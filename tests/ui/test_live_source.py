"""LiveSource: the data of a live view's Bokeh source is written by Python only. A page that sends back what it
was sent (Panel 1.9's notebook comm does) must not move the rows the next stream or patch is computed from."""

import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource
from panel.io.model import diff

from thebot_panel.ui import LiveSource


def kernel_and_page(cls):
    """A kernel document holding a ``cls`` source of three rows, and the page's copy of it (as BokehJS gets it)."""
    kernel = Document()
    source = cls({"open_time": [1.0, 2.0, 3.0], "close": [10.0, 20.0, 30.0]}, name="candles")
    kernel.add_root(source)
    page = Document.from_json(kernel.to_json())
    return kernel, source, page.get_model_by_name("candles"), page


def sent_back(page, change) -> dict:
    """The patch message the page sends after ``change`` is applied to its copy."""
    page.hold("collect")
    change()
    return diff(page, binary=False).content


CHANGES = {
    "stream": lambda s: s.stream({"open_time": [4.0], "close": [40.0]}, rollover=3),
    "patch": lambda s: s.patch({"close": [(2, 31.0)]}),
    "data": lambda s: setattr(s, "data", {"open_time": [9.0], "close": [90.0]}),
}


@pytest.mark.parametrize("change", CHANGES)
def test_changes_coming_back_from_the_page_leave_the_rows_python_sent(change):
    kernel, source, page_source, page = kernel_and_page(LiveSource)
    kernel.apply_json_patch(sent_back(page, lambda: CHANGES[change](page_source)), setter="page comm")
    assert source.data == {"open_time": [1.0, 2.0, 3.0], "close": [10.0, 20.0, 30.0]}


@pytest.mark.parametrize("change", CHANGES)
def test_a_plain_source_would_take_them(change):  # what LiveSource guards against
    kernel, source, page_source, page = kernel_and_page(ColumnDataSource)
    kernel.apply_json_patch(sent_back(page, lambda: CHANGES[change](page_source)), setter="page comm")
    assert source.data != {"open_time": [1.0, 2.0, 3.0], "close": [10.0, 20.0, 30.0]}


def test_python_writes_apply_and_the_page_sees_a_plain_column_data_source():
    _kernel, source, page_source, _page = kernel_and_page(LiveSource)
    assert type(page_source) is ColumnDataSource
    CHANGES["stream"](source)
    CHANGES["patch"](source)
    assert source.data == {"open_time": [2.0, 3.0, 4.0], "close": [20.0, 30.0, 31.0]}
    CHANGES["data"](source)
    assert source.data == {"open_time": [9.0], "close": [90.0]}


def test_an_echoed_older_row_does_not_make_the_next_update_double_a_candle():
    """The failure seen in JupyterLab: Python streams candle 4, the page echoes its stream of candle 3 back, and
    the chart (which patches the last row if it is the same candle, else streams) would stream candle 4 again."""
    kernel, source, page_source, page = kernel_and_page(LiveSource)
    echo = sent_back(page, lambda: CHANGES["stream"](page_source))  # the page applied candle 4 ...
    source.stream({"open_time": [4.0, 5.0], "close": [40.0, 50.0]}, rollover=3)  # ... Python moved on to 5
    kernel.apply_json_patch(echo, setter="page comm")
    assert source.data["open_time"] == [3.0, 4.0, 5.0]
