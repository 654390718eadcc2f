"""normlab's entry file: page setup and navigation; each page then calls appkit.page_setup."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads: many runs share the CPU

import streamlit as st  # noqa: E402

st.set_page_config(page_title="normlab: watch normalization train",
                   page_icon=":material/straighten:", layout="wide")

pages = {
    "Learn": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/concepts.py", title="Concepts", icon=":material/functions:"),
    ],
    "Lab": [
        st.Page("pages/live_lab.py", title="Live lab", icon=":material/science:"),
        st.Page("pages/compare.py", title="Compare norms", icon=":material/compare_arrows:"),
        st.Page("pages/inspector.py", title="Layer inspector", icon=":material/layers:"),
    ],
    "Lessons": [
        st.Page("pages/batch_size.py", title="Batch size", icon=":material/straighten:"),
        st.Page("pages/batch_dependence.py", title="Batch dependence", icon=":material/group:"),
        st.Page("pages/bn_train_eval.py", title="Train vs eval", icon=":material/swap_horiz:"),
        st.Page("pages/depth.py", title="Depth", icon=":material/stacked_line_chart:"),
        st.Page("pages/invariances.py", title="Invariances", icon=":material/transform:"),
        st.Page("pages/speed.py", title="Speed", icon=":material/timer:"),
    ],
    "Test the claims": [
        st.Page("pages/claims.py", title="Claim checker", icon=":material/fact_check:"),
        st.Page("pages/presets.py", title="Paper presets", icon=":material/menu_book:"),
    ],
}
st.session_state["_framed"] = True  # pages know that navigation is set up (see page_setup)
page = st.navigation(pages)
if deep_link := st.session_state.pop("_deep_link", None):  # a first visit by a shared link
    st.switch_page(deep_link, query_params=st.query_params.to_dict())
page.run()
