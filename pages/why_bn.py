"""Why does batch norm help? Internal covariate shift against noisy BN and smoothness."""

import streamlit as st

import appkit
from normlab.lessons import why_bn
from normlab.plots import beyond

CONTROLS = {
    "rate": appkit.Control("wb_lr", why_bn.WHY_BN_QUICK.lr, choices=(0.01, 0.02, 0.05, 0.1, 0.2)),
    "layers": appkit.Control("wb_depth", why_bn.WHY_BN_QUICK.depth, lo=2, hi=12),
    "run_steps": appkit.Control("wb_steps", why_bn.WHY_BN_QUICK.steps, lo=50, hi=400),
    "seeds": appkit.Control("wb_seeds", 5, lo=2, hi=8),
    "noise_shift": appkit.Control("wb_shift", 1.0, lo=0.0, hi=3.0),
    "noise_scale": appkit.Control("wb_scale", 3.0, lo=1.0, hi=5.0),
}
appkit.page_setup(__file__, controls=CONTROLS)
st.title("Why does batch norm help?")
st.write(
    "Everyone agrees that batch norm helps; why is still argued. Santurkar et al. (2018, *How "
    "Does Batch Normalization Help Optimization?*) put the original explanation to two tests, "
    "and this page reruns both on a small MLP learning the digits: **noisy batch norm**, which "
    "shifts and rescales every unit after the norm by new random amounts at every step, and a "
    "walk along the gradient that measures how much the loss and the gradient change."
)
story, evidence = st.columns(2)
story.markdown(
    "**The original story** (Ioffe & Szegedy, 2015): training changes each layer's weights, so "
    "the distribution the next layer receives keeps moving (*internal covariate shift*), and "
    "every layer must keep re-adapting. Batch norm fixes each unit's mean and variance, so the "
    "next layer sees a steady distribution, and training goes faster.")
evidence.markdown(
    "**The test** (Santurkar et al., 2018): if steadiness were the point, noise that moves the "
    "distribution at every step should undo batch norm's gain. In their VGG it did not. Their "
    "alternative: batch norm makes the loss **smoother**, so the gradient stays a good guide a "
    "step further, and larger steps are safe.")

with st.form("wb_form"):
    left, middle, right = st.columns(3)
    lr = left.select_slider("Learning rate", CONTROLS["rate"].choices, key="wb_lr")
    depth = left.slider("Hidden layers", *CONTROLS["layers"].bounds, key="wb_depth")
    steps = middle.slider("Training steps", *CONTROLS["run_steps"].bounds, step=50,
                          key="wb_steps")
    seeds = middle.slider("Seeds", *CONTROLS["seeds"].bounds, key="wb_seeds")
    shift = right.slider("Noise shift: μ ~ U(−a, a)", *CONTROLS["noise_shift"].bounds, step=0.5,
                         key="wb_shift")
    scale = right.slider("Noise scale: σ ~ U(1, b)", *CONTROLS["noise_scale"].bounds, step=0.5,
                         key="wb_scale")
    st.form_submit_button("Run", type="primary", icon=":material/play_arrow:", key="wb_run")

result = appkit.sweep(
    "why_bn", key="why_bn", label=f"Training 3 × {seeds} networks", seeds=tuple(range(seeds)),
    base=why_bn.WHY_BN_QUICK.replace(lr=lr, depth=depth, steps=steps),
    noise_shift=shift, noise_scale=scale)


def card(claim: str, decision, detail: str) -> None:
    """The claim, its computed verdict and the numbers behind it."""
    box = {"holds": st.success, "does not hold": st.error}.get(decision.verdict, st.warning)
    settle = decision.settle.split(": ", 1)[-1]  # its interval is in raw units: given above
    box(f"**\"{claim}\"** — {decision.verdict} (at these settings). {detail} "
        f"{settle[:1].upper() + settle[1:]}", icon=":material/gavel:")


if result is not None and len(result.runs):
    runs, smooth = result.runs, why_bn.smoothness(result.probes)
    done = set(runs["condition"])
    if {"none", "noisy_batch"} <= done:
        gain = why_bn.verdict_noise_keeps_the_gain(runs)
        card("Batch norm still helps when the distribution after it moves at every step", gain,
             f"Noisy BN minus no norm, final validation accuracy: {100 * gain.effect:+.1f} "
             f"points, 95% interval [{100 * gain.low:+.1f}, {100 * gain.high:+.1f}] over "
             f"{gain.n} seeds.")
    if {"none", "batch"} <= done:
        smoother = why_bn.verdict_bn_smoother(result.probes)
        card("Batch norm makes the loss smoother along the gradient", smoother,
             f"Effective β of BN over no norm: ×{10 ** smoother.effect:.2f} (median over "
             f"probed steps), 95% interval ×{10 ** smoother.low:.2f} to "
             f"×{10 ** smoother.high:.2f} over {smoother.n} seeds.")
    appkit.chart(st, beyond.accuracy_by_condition(why_bn.accuracy_intervals(runs)),
                 key="wb_accuracy", caption=(
                     "Mean over seeds with its 95% t interval. If a steady distribution were "
                     "what helps, noisy BN would fall back towards no norm."))
    moved = why_bn.distribution_shift(result.shift).set_index("condition")["shift"]
    appkit.chart(st, beyond.unit_distribution(result.shift), key="wb_shift_chart", caption=(
        "One unit of the middle layer after its norm (noise included), as its activation and "
        "the next layer receive it. Between probed steps its median moved by " + ", ".join(
            f"{beyond.condition_label(c)} {m:.2f}" for c, m in moved.items()) + " of its "
        "15th–85th spread: batch norm holds it still, noisy BN does not."))
    appkit.chart(st, beyond.smoothness_by_step(smooth, "beta"), key="wb_beta", caption=(
        "From the weights, steps of η·[0.5, 1, 2, 4] along the gradient: the largest change of "
        "the gradient per unit moved. Lower means the gradient is a better guide further out."))
    appkit.chart(st, beyond.smoothness_by_step(smooth, "loss_range"), key="wb_loss", caption=(
        "How far the loss swings over the same walk: a smooth landscape swings less."))
    with st.expander("The numbers"):
        st.dataframe(runs, hide_index=True, width="stretch")

st.subheader("Try this")
st.markdown(
    "- Raise the **learning rate** to 0.1 or 0.2: which condition starts diverging first?\n"
    "- Set the **noise scale** to 5 and the **shift** to 3: does noisy BN still beat no norm?\n"
    "- Compare noisy BN's β line with no norm's: is the noisy network smoother too, though "
    "its unit moves about as much as without a norm?"
)
st.page_link("pages/lr_window.py", label="The learning-rate window: how large a step each norm "
             "survives", icon=":material/tune:")
st.page_link("pages/bn_train_eval.py", label="Train vs eval: batch norm's running statistics",
             icon=":material/swap_horiz:")
