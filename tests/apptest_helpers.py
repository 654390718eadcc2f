"""What the AppTest files share: reading figures and messages back from a page."""

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest


def figures(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by title, as sent to the browser (live charts included)."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs} | live_figures(at)


def values(array) -> list:
    """A data array from a figure spec: plotly sends numpy arrays base64-encoded."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def texts(elements) -> str:
    """The text of several elements (errors, warnings, markdown) as one string."""
    return " ".join(str(element.value) for element in elements)


def live_figures(at: AppTest) -> dict[str, dict]:
    """The live lab's plots (one live_charts component, an UnknownElement to AppTest) by title."""
    specs = []
    for element in at.main:
        if type(element).__name__ == "UnknownElement" and "json_args" in dir(element.proto):
            args = json.loads(element.proto.json_args)
            specs += [json.loads(chart["spec"]) for chart in args.get("charts", [])]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def settle(at: AppTest, timeout: float = 90.0) -> AppTest:
    """Rerun until the session's live-lab job has paused or ended (it trains on the scheduler's
    thread, and AppTest does not tick run_every fragments)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        job = at.session_state["live_job"] if "live_job" in at.session_state else None
        if job is None or job.state in ("paused", "done"):
            return at.run()  # one more: the page draws the settled run
        assert time.monotonic() < deadline, f"the live job is still {job.state}"
        time.sleep(0.2)
        at.run()
