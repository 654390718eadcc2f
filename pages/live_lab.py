"""Live lab: train one network and watch every layer while it learns, on one screen."""

import streamlit as st

import appkit
from appkit import live
from appkit.live_chart import live_charts
from normlab import plots

VIEW = appkit.Control("keep_live_layers", "spread", choices=("spread", "bands"))
appkit.page_setup(__file__, controls={"view": VIEW})
st.html("<style>[data-testid='stMainBlockContainer']{padding-top:3.2rem;padding-bottom:2rem}"
        "</style>")  # the lab is one screen: less empty space above the title
cfg = appkit.sidebar()
# Home's Start trains at once; a link replays its run if this server has it (watching it train
# is the lesson, so one it has not trained waits for Train, with a note)
linked = appkit.opened_by_link()
if st.session_state.pop("autostart", False) or (
        linked and appkit.run_store().get(cfg) is not None):
    live.start(cfg)
elif linked:  # a toast: the lab's one screen keeps its layout
    st.toast("Opened from a link with its settings: press **Train** to watch it train.",
             icon="🔗")
if live.state() not in ("idle", "done") and live.job().config != cfg:
    live.stop()  # the sidebar changed under a run: end it (the page says so), no runaway
state = live.state()
running = state in live.ACTIVE

title, controls = st.columns([1, 3], vertical_alignment="bottom")
title.title("Live lab")
buttons = controls.container(horizontal=True, horizontal_alignment="right")  # wraps on a phone
buttons.button("Train", key="train", type="primary", icon=":material/play_arrow:",
               on_click=live.train, args=(cfg,), disabled=running,
               help="Train to the end, or resume a paused run.")
buttons.button("Pause", key="pause", icon=":material/pause:", on_click=live.pause,
               disabled=not running)
buttons.button("Step", key="step", icon=":material/skip_next:", on_click=live.step, args=(cfg,),
               disabled=running, help="Train one snapshot more, then pause.")
buttons.button("Reset", key="reset", icon=":material/restart_alt:", on_click=live.reset,
               args=(cfg,), help="Back to step 0 with the same initial weights, paused.")
buttons.button("Stop", key="stop", icon=":material/stop_circle:", on_click=live.stop,
               disabled=state in ("idle", "done"), help="Stops within a layer's time; keeps "
                                                        "what ran.")
pinned = st.session_state.get(live.PINNED_KEY) is not None
buttons.button("Unpin" if pinned else "Pin", key="pin", icon=":material/keep:",
               on_click=live.toggle_pin, help="Keep this run on the loss and accuracy charts, "
                                              "faded, while you train others.")

# paused: a slow tick still tells the scheduler someone looks (it cancels unwatched jobs)
appkit.default("keep_live_layers", "spread")


@st.fragment(run_every=0.3 if running else 10 if state == "paused" else None)
def live_view():
    run, now = live.look(), live.state()
    status, view = st.columns([6, 2], vertical_alignment="center")
    layers_view = view.segmented_control(
        "Layers", VIEW.choices, key=VIEW.key,
        format_func={"spread": "spread", "bands": "bands"}.get,
        label_visibility="collapsed", help="Every layer's spread by step, or the 15th–85th "
        "percentile band of four layers.") or "spread"
    if (notice := st.session_state.get(live.NOTICE_KEY)) is not None:
        status.warning(notice, icon=":material/hourglass_top:")
    elif (error := live.error()) is not None:
        status.error(f"This configuration cannot train: {error}", icon=":material/block:")
    elif now == "waiting":
        ahead = appkit.scheduler().ahead(live.job())
        status.info(f"Queued: {ahead} run{'s' if ahead != 1 else ''} ahead of yours.",
                    icon=":material/hourglass_top:")
    elif run is None:
        status.info("Press **Train** to start, or **Step** to go one snapshot at a time. The "
                    "sidebar holds the experiment.", icon=":material/arrow_back:")
    elif run.status != "running":
        appkit.show_outcome(run, status)
    else:
        status.progress(min(run.step / max(run.config.steps, 1), 1.0),
                        text=f"step {run.step} / {run.config.steps} · {run.wall_time:.1f} s · "
                             f"{'paused' if now == 'paused' else 'training'}")
    live_charts(live.charts(run, cfg, layers_view), key="live_charts", toolbar=False,
                stamp=f"{run.step if run else 0}/{run.status if run else 'none'}")
    if running and now not in live.ACTIVE:  # it ended or paused: the buttons change
        st.rerun()


live_view()
run = live.look()
if run is not None and run.config != cfg and not running:
    st.info("These charts show your last run; the sidebar has changed since ("
            f"{appkit.describe_change(run.config, cfg)}). Press Train to run it.")
if st.session_state.get("live_replayed"):
    st.caption("Replayed at once: this exact experiment was already trained on this server. "
               "Change the seed to train a fresh one.")
with st.expander("What am I looking at?"):
    st.markdown(
        "A real network trains on the server while your browser shows it, live, learning the "
        "sidebar's task. **Loss** (dotted: the "
        "batches it trained on; solid: held-out data): a flat line at ln(classes), 2.3 nats "
        "for the 10 digits, means it is only guessing. **Spread**: one row per layer, the "
        "standard deviation of the values leaving the norm; white is 1, red wider, blue "
        "narrower, black collapsed to 0. **Gradients**: bright rows get large gradients; a "
        "ramp from top to bottom means they explode or vanish with depth. **Update ratio**: "
        "how much a step changes a layer's weights; around 10⁻³ (white) is healthy by a common "
        "rule of thumb (Karpathy, makemore part 3), not a law. The colour ranges are "
        "fixed, the same for every run and page. Faded dashed lines are the previous run and "
        "the pinned one.")
    st.caption(appkit.WHY_BN_HELPS_CAVEAT)
if run is not None and not running:
    appkit.downloads(run, plots.loss_curves(appkit.tagged(run.metrics, run.config.norm)),
                     name="live")
st.subheader("Try this")
st.markdown(
    "- Set **depth** to 20, **activation** to sigmoid and **norm** to No norm, train; then "
    "switch to BatchNorm and train again: the first run stays on the charts, faded.\n"
    "- Press **Reset**, then **Step** a few times: the first snapshots are where the norms "
    "differ most.\n"
    "- With BatchNorm, set **batch size** to 4, then 2, then 1. Does it stay robust?\n"
    "- Raise the **learning rate** to 2 with No norm, then with LayerNorm."
)
appkit.warm_up()  # a first visit by a link skips Home: load the data while they read
