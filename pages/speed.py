"""Speed: is RMS norm cheaper than layer norm? Timed on this machine, three implementations."""

import streamlit as st
import torch

import appkit
from normlab.lessons import claims, speed
from normlab.plots import lessons as lp

SIZES = ["64x64", "256x256", "1024x256", "2048x1024", "4096x1024", "8192x2048"]

DEVICES = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
CONTROLS = {
    "sizes": appkit.Control("speed_sizes", ["256x256", "2048x1024"], choices=tuple(SIZES)),
    "code": appkit.Control("speed_implementations", ["normlab", "torch", "naive"],
                           choices=("normlab", "torch", "naive")),
    "compile": appkit.Control("speed_compile", False),
    "on": appkit.Control("speed_device", "cpu", choices=DEVICES),
    "repeats": appkit.Control("speed_repeats", 7, lo=3, hi=31),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("Speed")
st.write(
    "RMS norm skips the mean: Zhang & Sennrich (2019, *Root Mean Square Layer Normalization*) "
    "report running times 7% to 64% lower than with layer norm. Those are whole-model times "
    "(RNN translation, Transformer, reader and CNN models) with their 2019 implementations, "
    "not the time of one norm layer on today's kernels. Whether a saving shows depends on "
    "what limits the kernel. A norm reads and writes every value once; on a large tensor the "
    "time goes into moving memory, not into the few extra additions, so both should cost "
    "about the same; a saving should show where the work is small or the code is not "
    "fused. Time it here: forward + backward of one layer, in interleaved rounds; in each "
    "round RMS norm's time over layer norm's, and the 95% interval of that ratio over the "
    "rounds."
)

with st.form("speed_form"):
    left, middle, right = st.columns([3, 3, 2])
    sizes = left.multiselect("Input sizes (rows x features)", SIZES, key="speed_sizes")
    implementations = middle.multiselect(
        "Implementations", CONTROLS["code"].choices, key="speed_implementations",
        help="normlab: the from-scratch layers with hand-written backward; torch: torch.nn's "
        "native kernels; naive: the textbook formula, autograd does the backward.")
    compiled = middle.checkbox("Also torch.compile the naive formula", key="speed_compile",
                               help="Compiling takes tens of seconds on a CPU.")
    device = right.radio("Device", DEVICES, horizontal=True, key="speed_device")
    repeats = right.slider("Repeats", *CONTROLS["repeats"].bounds, step=2, key="speed_repeats")
    st.form_submit_button("Time them", type="primary", icon=":material/timer:", key="speed_run")
measure_again = st.button("Measure again", key="speed_again", icon=":material/replay:",
                          help="Timings are kept for everyone; this takes a fresh measurement.")
if measure_again:
    st.session_state["speed_attempt"] = st.session_state.get("speed_attempt", 0) + 1

chosen = tuple(implementations) + (("torch.compile",) if compiled else ())
if not sizes or not chosen:
    st.info("Pick at least one size and one implementation.")
    st.stop()
shapes = tuple(tuple(int(n) for n in size.split("x")) for size in sizes)
timings = appkit.sweep(
    "time_norms", key="speed", label="Timing batch, layer and RMS norm",
    attempt=st.session_state.get("speed_attempt", 0),
    sizes=tuple(sorted(shapes, key=lambda s: s[0] * s[1])), implementations=chosen,
    device=device, repeats=repeats)

if timings is not None and len(timings.times):
    times, paired = timings.times, speed.paired_ratios(timings.rounds)
    verdict = claims.verdict_rms_cheaper_than_layer(timings.rounds)  # as `normlab claims` does
    box = {claims.HOLDS: st.success, claims.DOES_NOT_HOLD: st.error,
           claims.NOT_SETTLED: st.warning}.get(verdict.verdict, st.info)
    head = next((p.condition for p in verdict.parts if p.decision.effect == verdict.effect), "")
    headline = "" if verdict.interval is None else (
        f" {head[:1].upper() + head[1:]}: {verdict.effect:.2f}× [{verdict.interval[0]:.2f}, "
        f"{verdict.interval[1]:.2f}], n = {verdict.n} paired rounds (every row below).")
    box(f"**\"RMS norm is cheaper to compute than layer norm\"**: {verdict.verdict} (on this "
        f"{device}).{headline} Rule: {verdict.threshold}."
        + (f"\n\n**To settle it:** {verdict.settle}" if verdict.settle else ""),
        icon=":material/gavel:")
    st.dataframe(paired.assign(interval=paired.apply(
        lambda row: f"[{row['low']:.2f}, {row['high']:.2f}]", axis=1))[
        ["implementation", "size", "ratio", "interval", "n", "verdict"]],
        hide_index=True, width="stretch", column_config={
            "ratio": st.column_config.NumberColumn("RMS / layer (geometric mean)", format="%.2f×"),
            "interval": "95% interval", "n": "paired rounds", "verdict": "cheaper by 5%?"})
    st.write(speed.native_sentence(paired))
    appkit.chart(st, lp.speed_times(times), key="speed_times", caption=(
        "Colour: the norm; line style and marker: the implementation. On a log-log scale a "
        "slope of 1 means time grows with the number of values, as a memory-bound op does."))
    appkit.chart(st, lp.speed_ratio(paired, 1 - speed.CHEAPER_MARGIN), key="speed_ratio",
                 caption="Whiskers: the 95% interval over the paired rounds; below the dotted "
                 f"line ({1 - speed.CHEAPER_MARGIN:g}×) RMS norm counts as cheaper. "
                 + speed.implementations_sentence(paired))
    unavailable = times[times["status"] != "ok"]
    for row in unavailable.drop_duplicates("implementation").itertuples():
        st.warning(f"{row.implementation}: {row.status}", icon=":material/block:")
    with st.expander("The numbers"):
        st.dataframe(times, hide_index=True, width="stretch")
        st.dataframe(timings.rounds, hide_index=True, width="stretch")

st.subheader("What others measured")
st.markdown(
    "Sources: both sets were measured for normlab while this lesson was written, the first on "
    "one NVIDIA H100 GPU, the second on the 2-core CPU machine normlab is developed on. "
    "Neither is a published benchmark: each is one machine's numbers.\n\n"
    "- **One H100, bf16, 16384 × 4096, forward only**: moving the data once takes ≈ 92 µs. "
    "torch's native LayerNorm took 124 µs, RMSNorm 130 µs, BatchNorm 363 µs: both norms sit "
    "near the memory floor, so RMS norm's saved mean buys nothing. The naive eager formulas "
    "took 11–20× the floor (every step a separate pass over memory); `torch.compile` brought "
    "them to 1.4–1.8×. At 4096 × 1024 native RMSNorm was ≈ 28% faster than LayerNorm.\n"
    "- **A 2-core CPU (torch 2.13), 2048 × 1024 fp32, forward + backward**: native LayerNorm "
    "≈ 11 ms but native RMSNorm ≈ 21 ms; the naive formulas the other way round, LN ≈ 35 ms "
    "and RMS ≈ 12 ms. The \"cheaper\" norm depends on whose kernel you call; PyTorch issue "
    "157345 reports the same: `nn.RMSNorm` slower than `nn.LayerNorm` on CPU.\n\n"
    "So \"less computation\" wins only where the operation is not memory-bound: small tensors, "
    "launch-bound or unfused code, or a slow kernel for one of them."
)
st.caption("Timings run on one CPU thread. On a shared server a busy neighbour slows some "
           "rounds: the two norms, timed moments apart, mostly share a slow moment, and what "
           "is left widens the interval. Group norm is left out: only batch, layer and RMS "
           "norm have native torch.nn kernels to compare against.")
st.subheader("Try this")
st.markdown(
    "- Add **8192x2048**: does the RMS/layer ratio of the naive formula move towards 1 as the "
    "tensor grows?\n"
    "- Tick **torch.compile**: how close does the compiled naive formula get to torch's own "
    "kernels?\n"
    "- Press **Measure again** a few times: how much do the ratios wobble?"
)
st.page_link("pages/claims.py", label="Claim checker", icon=":material/fact_check:")
st.page_link("pages/compare.py", label="Compare norms: wall time of whole training runs",
             icon=":material/compare_arrows:")
