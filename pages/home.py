"""Home: what normalization is for, the three norms at a glance, and where to start."""

import streamlit as st

import appkit

appkit.page_setup(__file__)
st.title("normlab: watch normalization at work")
st.write(
    "A deep network is a long chain of layers, and each one passes its output to the next. "
    "Without care, those values drift as training changes the weights: they grow or shrink "
    "from layer to layer, saturate a sigmoid, or switch off ReLUs, and the gradients explode "
    "or vanish on the way back. A **normalization layer** re-centres and rescales the values "
    "inside the network at every step. Here you train real networks in your browser and "
    "watch what each norm does to them."
)

if st.button("Start here: a 20-layer network without a norm", key="start", type="primary",
             icon=":material/play_arrow:"):
    appkit.go_to("pages/live_lab.py", appkit.PRESETS["deep_sigmoid"], autostart=True)
st.caption("Opens the live lab and trains a deep sigmoid network, like the one in the batch "
           "norm paper. Then switch the norm to BatchNorm and train again.")

st.header("Three norms at a glance")
batch, layer, rms = st.columns(3)
with batch:
    st.subheader("BatchNorm")
    st.latex(r"y = \gamma\,\frac{x - \mu_{\mathcal{B}}}{\sqrt{\sigma^2_{\mathcal{B}} + \epsilon}}"
             r" + \beta")
    st.write("Each unit is standardised with the mean and variance **over the mini-batch**, so "
             "an example's output depends on its batch mates (Ioffe & Szegedy, 2015).")
with layer:
    st.subheader("LayerNorm")
    st.latex(r"y = \gamma\,\frac{x - \mu_{x}}{\sqrt{\sigma^2_{x} + \epsilon}} + \beta")
    st.write("Each example is standardised with the mean and variance **over its own "
             "features**: no batch needed, the same in training and eval (Ba et al., 2016).")
with rms:
    st.subheader("RMSNorm")
    st.latex(r"y = \gamma\,\frac{x}{\sqrt{\tfrac{1}{d}\sum_i x_i^2 + \epsilon}}")
    st.write("Each example is divided by its **root mean square**: no mean is subtracted, so "
             "there is a little less to compute (Zhang & Sennrich, 2019).")

st.header("The lessons")
for section, lessons in appkit.SECTIONS.items():
    shown = [lesson for lesson in lessons if lesson.path != "pages/home.py"]
    if shown:
        st.subheader(section)
    for lesson in shown:
        link, text = st.columns([1, 3])
        link.page_link(lesson.path, label=lesson.title, icon=lesson.icon)
        text.write(lesson.teaches)

st.header("Try this")
st.markdown(
    "Open the live lab, set **depth** to 30 and **norm** to No norm, train; then pick "
    "BatchNorm and train again. Which layers stop changing?"
)
appkit.warm_up()  # loads the digits and torch once per server, so the first Train is quick
