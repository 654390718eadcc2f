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
    "inside the network at every step. Here real networks train on the server while your "
    "browser shows them learning, live, so you can watch what each norm does to them."
)

if st.button("Start here: a 20-layer network without a norm", key="start", type="primary",
             icon=":material/play_arrow:"):
    appkit.go_to("pages/live_lab.py", appkit.PRESETS["deep_sigmoid"], autostart=True)
st.caption("Opens the live lab and trains a deep sigmoid network (20 layers; the batch norm "
           "paper's MNIST network had 3). Then switch the norm to BatchNorm and train again.")

st.header("Three norms at a glance")
batch, layer, rms = st.columns(3)
with batch:
    st.subheader("BatchNorm")
    st.latex(r"y = \gamma\,\frac{x - \mu_{\mathcal{B}}}{\sqrt{\sigma^2_{\mathcal{B}} + \epsilon}}"
             r" + \beta")
    st.write("In training mode, each unit is standardised with the mean and variance **over "
             "the mini-batch**, so an example's output depends on its batch mates; in eval "
             "mode it uses running averages instead (Ioffe & Szegedy, 2015).")
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

st.header("Why does batch norm help? Contested", anchor=appkit.WHY_BN_HELPS_ANCHOR)
st.markdown(
    "That batch norm speeds training is well measured; **why** it does is not settled. "
    "Ioffe & Szegedy (2015) proposed that it reduces *internal covariate shift*: each layer's "
    "input distribution keeps moving as the layers below learn, and normalising holds it in "
    "place. Santurkar et al. (2018, *How Does Batch Normalization Help Optimization?*) tested "
    "that story: with noise of changing mean and variance injected right after every batch "
    "norm layer, so the distribution moves more than without batch norm, a VGG network on "
    "CIFAR-10 still trained about as well as with plain batch norm. They found instead that "
    "batch norm makes the loss landscape smoother (loss and gradient change less along the "
    "gradient), and Bjorck et al. (2018) that it lets training use larger learning rates. So "
    "when a page here shows a norm holding a distribution steady, that is what the norm "
    "*does*; whether it is *why* training goes faster is the open question."
)
st.page_link(appkit.WHY_BN_PAGE, label="Put it to the test: noisy batch norm and the loss's "
             "smoothness, on this machine", icon=":material/psychology:")

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
