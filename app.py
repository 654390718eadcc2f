"""normlab's entry file: page setup and navigation; each page then calls appkit.page_setup."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads: many runs share the CPU

import streamlit as st  # noqa: E402

import appkit  # noqa: E402

# An emoji icon is drawn by the browser itself: a ":material/...:" icon makes every browser fetch
# it from Google's font server (a class on a closed network waits on it), and an image file is
# re-encoded on every script run.
st.set_page_config(page_title="normlab: watch normalization train", page_icon="📊",
                   layout="wide")

pages = {
    section: [st.Page(entry.path, title=entry.title, icon=entry.icon,
                      default=entry.path == appkit.HOME) for entry in listed]
    for section, listed in appkit.SECTIONS.items()
}
st.session_state["_framed"] = True  # pages know that navigation is set up (see page_setup)
page = st.navigation(pages)
if deep_link := st.session_state.pop("_deep_link", None):  # a first visit by a shared link
    st.switch_page(deep_link, query_params=st.query_params.to_dict())
page.run()
