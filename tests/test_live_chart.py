"""LiveCharts: one chart redrawn many times in one script run, in the same place and iframe
from one run to the next (no empty placeholder sent there first), and a clear error, not a
traceback from Streamlit's insides, when the Streamlit internals it needs are gone."""

from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from appkit import live_chart


def redrawing_app():
    """Two draws per run after a title; records the type of every element sent, by place."""
    import plotly.graph_objects as go
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from appkit.live_chart import LiveCharts, Slot

    ctx = get_script_run_ctx()
    sent = st.session_state.setdefault("sent", [])
    sent.append([])
    enqueue = ctx._enqueue

    def record(msg):
        if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
            sent[-1].append((tuple(msg.metadata.delta_path),
                             msg.delta.new_element.WhichOneof("type")))
        enqueue(msg)

    ctx._enqueue = record
    st.title("Redrawn")
    run = len(sent)
    live = LiveCharts("chart")
    for frame in (1, 2):
        live.draw({"c": Slot(go.Figure(go.Scatter(y=[run, frame]), layout_title_text="c"))},
                  stamp=f"{run}/{frame}")
    st.caption("below")


def test_live_charts_redraw_in_one_run_in_place_without_an_empty_placeholder():
    at = AppTest.from_function(redrawing_app).run()
    at.run()
    assert not at.exception, at.exception
    first, second = at.session_state["sent"]
    place = first[1][0]  # after the title
    assert [kind for path, kind in first] == ["heading", "empty", "component_instance",
                                              "component_instance", "markdown"], first
    # the second run draws the last figure first, at the same place: nothing else goes there
    assert [kind for path, kind in second if path == place] == ["component_instance"] * 3, second
    assert second[-1] == ((*place[:-1], place[-1] + 1), "markdown"), second  # the caption
    charts = [element for element in at.main if type(element).__name__ == "UnknownElement"]
    assert len(charts) == 1
    assert live_chart.figures_of(charts[0])["c"]["data"][0]["y"] == [2, 2]


def test_a_streamlit_without_the_internals_fails_loudly(monkeypatch):
    import streamlit.delta_generator_singletons as singletons
    import streamlit.runtime.scriptrunner as scriptrunner

    monkeypatch.setattr(singletons, "get_dg_singleton_instance",
                        lambda: SimpleNamespace(main_dg=object()))
    with pytest.raises(live_chart.StreamlitInternalsChanged, match="reserve a place.*1.67"):
        live_chart._reserve_place()
    monkeypatch.setattr(scriptrunner, "get_script_run_ctx",
                        lambda: SimpleNamespace(shared=SimpleNamespace()))
    with pytest.raises(live_chart.StreamlitInternalsChanged, match="redraw a chart.*pin"):
        live_chart._forget("chart")


def test_forgetting_a_key_that_stays_registered_fails_loudly(monkeypatch):
    import streamlit.runtime.scriptrunner as scriptrunner

    class Stuck:  # a set that keeps the key whatever it is told
        def __contains__(self, value):
            return True

    class NoLock:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    stuck = Stuck()
    stuck._lock, stuck._data = NoLock(), {"chart"}
    monkeypatch.setattr(scriptrunner, "get_script_run_ctx", lambda: SimpleNamespace(
        shared=SimpleNamespace(widget_ids_this_run=stuck, widget_user_keys_this_run=stuck)))
    with pytest.raises(live_chart.StreamlitInternalsChanged, match="still registered"):
        live_chart._forget("chart")
