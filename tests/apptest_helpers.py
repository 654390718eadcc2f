"""What the AppTest files share: reading figures and messages back from a page."""

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest


def figures(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by title, as sent to the browser."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def values(array) -> list:
    """A data array from a figure spec: plotly sends numpy arrays base64-encoded."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def texts(elements) -> str:
    """The text of several elements (errors, warnings, markdown) as one string."""
    return " ".join(str(element.value) for element in elements)
