"""Panel views of the feed hub: chart, controls, status strip, dashboard."""

import panel as pn


def when_served(start) -> None:
    """Run ``start`` once a served page has loaded (no model changes before the page is sent), or now in a
    notebook, where there is no page load to wait for."""
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.onload(start)
    else:
        start()
