"""The app, page by page, through Streamlit's AppTest; and the URL parsing behind shared links.

Runs are tiny (steps=20 in the URL) so the whole file stays well under a minute and a half.
"""

import time
from pathlib import Path

import pytest
from apptest_helpers import figures, settle, texts, values
from run_helpers import finished_run
from streamlit.testing.v1 import AppTest

import appkit
from appkit.scheduler import Scheduler
from normlab import plots
from normlab.config import LIMITS, TrainConfig

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["pages/home.py", "pages/concepts.py", "pages/live_lab.py", "pages/compare.py",
         "pages/inspector.py"]


def open_page(page: str, **params) -> AppTest:
    """A new session opened from a link with `params` (steps=20 unless given), then `page`."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in {"steps": "20", **params}.items():
        at.query_params[name] = str(value)
    at.run()  # through app.py's st.navigation first, as a browser would arrive
    return at.switch_page(page).run()


# --- the page list: one lesson key per lesson page ------------------------------------------------

LESSON_PAGES = {"batch_size": "pages/batch_size.py",
                "batch_dependence": "pages/batch_dependence.py",
                "train_eval": "pages/bn_train_eval.py", "depth": "pages/depth.py",
                "invariances": "pages/invariances.py", "speed": "pages/speed.py",
                "concepts": "pages/concepts.py",
                "convergence": "pages/compare.py",  # loss by step per norm: which converges first
                "why_bn": "pages/why_bn.py", "lr_window": "pages/lr_window.py",
                "data_view": "pages/data_view.py",
                "transformer": "pages/transformer.py"}


def test_each_lesson_key_opens_its_page():
    from normlab.lessons import LESSON_KEYS

    assert {key: appkit.page_for_lesson(key) for key in LESSON_KEYS} == LESSON_PAGES
    keyed = {page.path for page in appkit.PAGES if page.key is not None}
    assert keyed == set(LESSON_PAGES.values())  # home, the lab, claims, presets: no lesson key


def test_every_listed_page_exists_once():
    paths = [page.path for page in appkit.PAGES]
    assert len(paths) == len(set(paths)) and appkit.HOME in paths
    assert all((Path(APP).parent / path).is_file() for path in paths)


# --- config_from_query: a pure function ---------------------------------------------------------

def test_no_parameters_give_the_default_experiment():
    cfg, notes = appkit.config_from_query({})
    assert cfg == appkit.DEFAULT_CONFIG and notes == []
    assert cfg.norm == TrainConfig().norm and cfg.record_every == TrainConfig().record_every


def test_a_shared_link_round_trips():
    cfg = appkit.with_cadence(TrainConfig(norm="layer", depth=12, lr=0.003, batch_size=8,
                                          activation="tanh", seed=7, init_gain=1.5))
    assert appkit.config_from_query(appkit.config_to_query(cfg)) == (cfg, [])


@pytest.mark.parametrize("params, field, expected", [
    ({"depth": "1000"}, "depth", 64),
    ({"depth": "-3"}, "depth", 1),
    ({"batch_size": "99999999999999999999"}, "batch_size", 1024),
    ({"lr": "nan"}, "lr", appkit.DEFAULT_CONFIG.lr),
    ({"lr": "inf"}, "lr", appkit.DEFAULT_CONFIG.lr),
    ({"width": "abc"}, "width", appkit.DEFAULT_CONFIG.width),
    ({"steps": "12.7"}, "steps", 13),
    ({"norm": "superNorm"}, "norm", appkit.DEFAULT_CONFIG.norm),
    ({"norm": "<script>alert(1)</script>"}, "norm", appkit.DEFAULT_CONFIG.norm),
    ({"dataset": "../../etc/passwd"}, "dataset", appkit.DEFAULT_CONFIG.dataset),
    ({"init_gain": "1e308"}, "init_gain", LIMITS["init_gain"][1]),
])
def test_bad_url_values_are_replaced_with_a_note(params, field, expected):
    cfg, notes = appkit.config_from_query(params)
    assert getattr(cfg, field) == expected
    assert len(notes) == 1 and notes[0].startswith(field)
    assert "<" not in notes[0] and "/" not in notes[0]  # nothing markdown or HTML gets through


def test_good_values_are_taken_as_given_and_unknown_keys_ignored():
    cfg, notes = appkit.config_from_query({"norm": "RMS", "depth": ["3", "9"], "utm": "x"})
    assert (cfg.norm, cfg.depth, notes) == ("rms", 9, [])


def test_a_run_over_budget_has_its_steps_cut_with_a_note():
    cfg, notes = appkit.config_from_query({"width": "1024", "batch_size": "1024", "depth": "64",
                                           "steps": "100000"})
    assert appkit.estimated_seconds(cfg) <= appkit.BUDGET_SECONDS
    assert cfg.steps < 100_000 and "steps cut" in notes[-1]


# --- the shared store and the training gate ---------------------------------------------------

def test_the_store_keeps_finished_runs_and_forgets_the_oldest():
    store = appkit.RunStore(capacity=2)
    configs = [TrainConfig(seed=seed) for seed in range(3)]
    for cfg in configs:
        store.put(finished_run(cfg, [2.3, 1.0]))
    store.put(finished_run(TrainConfig(seed=9), [2.3], status="stopped"))
    assert store.get(configs[0]) is None and store.get(configs[2]) is not None
    assert store.get(TrainConfig(seed=9)) is None  # a stopped run answers nothing


def test_runs_drawn_live_are_not_replayed_where_timing_matters():
    store, cfg = appkit.RunStore(), TrainConfig(seed=1)
    store.put(finished_run(cfg, [2.3, 1.0]), clean=False)
    assert store.get(cfg) is not None and store.get(cfg, clean=True) is None
    store.put(finished_run(cfg, [2.3, 0.5]), clean=True)
    store.put(finished_run(cfg, [2.3, 0.9]), clean=False)  # does not replace the clean one
    assert store.get(cfg, clean=True).metrics["val_loss"].iloc[-1] == 0.5


def test_sweeps_borrow_the_schedulers_cores_first_come_first():
    server = Scheduler(workers=1)
    first, second, third = server.line_up(), server.line_up(), server.line_up()
    assert server.try_borrow(second) == 1  # first is ahead of it
    assert server.try_borrow(first) == 0
    assert server.try_borrow(second) == 1
    server.give_back(first, borrowed=True)
    assert server.try_borrow(third) == 1  # second is still ahead of it
    assert server.try_borrow(second) == 0


# --- every page -----------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_page_runs_with_default_settings(page):
    at = open_page(page)
    assert not at.exception, at.exception
    assert at.title and at.markdown  # every page has a title and a "try this" prompt


def test_bad_url_parameters_are_clamped_with_one_warning():
    at = open_page("pages/live_lab.py", depth="9999", norm="<script>", lr="abc", seed="-5")
    assert not at.exception
    assert len(at.warning) == 1
    warning = at.warning[0].value
    assert all(field in warning for field in ("depth", "norm", "lr", "seed"))
    assert at.sidebar.slider(key="keep_cfg_depth").value == 64
    assert at.query_params["depth"] == ["64"] or at.query_params["depth"] == "64"


def test_the_url_follows_the_sidebar():
    at = open_page("pages/live_lab.py")
    at.sidebar.slider(key="keep_cfg_depth").set_value(9).run()
    assert str(at.query_params["depth"]).strip("[]'") == "9"


def test_settings_survive_moving_between_pages():
    at = open_page("pages/live_lab.py")
    at.sidebar.selectbox(key="keep_cfg_norm").select("rms")
    at.sidebar.slider(key="keep_cfg_depth").set_value(4).run()
    at.switch_page("pages/concepts.py").run()
    at.switch_page("pages/live_lab.py").run()
    assert at.sidebar.selectbox(key="keep_cfg_norm").value == "rms"
    assert at.sidebar.slider(key="keep_cfg_depth").value == 4


# --- live lab -------------------------------------------------------------------------------

def validation_loss(at: AppTest) -> list[float]:
    loss = figures(at)["Loss by step"]
    return [y for trace in loss["data"] if "validation" in trace["name"]
            for y in values(trace["y"])]


def test_live_lab_trains_and_the_norm_changes_the_curves():
    at = open_page("pages/live_lab.py", seed=11)
    settle(at.button(key="train").click().run())
    assert not at.exception
    charts = figures(at)
    assert {"Loss by step", "Validation accuracy", "Spread per layer (BatchNorm)",
            "Gradient ‖∇W‖ by layer", "Update ratio ‖ΔW‖/‖W‖ (white = 10⁻³)"} <= set(charts)
    assert "Finished 20 steps" in texts(at.success)
    with_batch = validation_loss(at)
    at.sidebar.selectbox(key="keep_cfg_norm").select("none").run()
    settle(at.button(key="train").click().run())
    assert at.session_state[appkit.LIVE_RUN_KEY].config.norm == "none"
    assert validation_loss(at) != with_batch
    assert len(with_batch) == len(validation_loss(at))


START_HERE_PARAMS = {key: value for key, value in appkit.config_to_query(
    appkit.PRESETS["deep_sigmoid"]).items()}


def job_step(at: AppTest) -> int:
    return at.session_state[appkit.LIVE_RUN_KEY].step


def test_reset_pauses_at_step_0_and_step_trains_one_snapshot_at_a_time():
    at = open_page("pages/live_lab.py", seed=12, steps=40)
    settle(at.button(key="reset").click().run())
    job = at.session_state["live_job"]
    assert job.state == "paused" and "Press **Train**" in texts(at.info)  # nothing trained yet
    settle(at.button(key="step").click().run())
    first = job_step(at)
    assert first > 0 and job.state == "paused"
    settle(at.button(key="step").click().run())
    assert job_step(at) - first == job.config.record_every  # one snapshot further
    assert at.session_state["live_job"] is job  # the same run
    first_loss = at.session_state[appkit.LIVE_RUN_KEY].metrics["val_loss"].tolist()
    settle(at.button(key="reset").click().run())
    settle(at.button(key="step").click().run())
    settle(at.button(key="step").click().run())  # same seed: same initial weights, same steps
    assert at.session_state[appkit.LIVE_RUN_KEY].metrics["val_loss"].tolist() == first_loss
    settle(at.button(key="train").click().run())  # resumes the paused run to the end
    assert at.session_state["live_job"].state == "done"
    assert "Finished 40 steps" in texts(at.success)
    assert not at.exception


def test_pause_holds_a_run_and_train_resumes_it():
    at = open_page("pages/live_lab.py", seed=13, steps=8000)
    at.button(key="train").click().run()
    settle(at.button(key="pause").click().run())
    job = at.session_state["live_job"]
    assert job.state == "paused"
    held = job_step(at)
    time.sleep(1.0)
    assert settle(at).session_state[appkit.LIVE_RUN_KEY].step == held
    at.button(key="train").click().run()
    assert at.session_state["live_job"] is job  # resumed, not restarted
    settle(at.button(key="stop").click().run())
    assert job.state == "done" and at.session_state[appkit.LIVE_RUN_KEY].status == "stopped"
    assert "Stopped after" in texts(at.info)


def test_the_previous_run_is_drawn_faded_under_the_new_one_and_a_pin_keeps_it():
    at = open_page("pages/live_lab.py", seed=14, norm="none")
    settle(at.button(key="train").click().run())
    at.sidebar.selectbox(key="keep_cfg_norm").select("batch").run()
    settle(at.button(key="train").click().run())
    loss = figures(at)["Loss by step"]["data"]
    faded = [trace for trace in loss if trace.get("opacity", 1) < 1]
    assert [trace["name"] for trace in faded] == ["previous: No norm"]
    assert faded[0]["line"]["color"] == plots.norm_color("none")
    assert {trace["line"]["color"] for trace in loss if trace not in faded} == {
        plots.norm_color("batch")}
    at.button(key="pin").click().run()  # pin the BatchNorm run, then train LayerNorm
    at.sidebar.selectbox(key="keep_cfg_norm").select("layer").run()
    settle(at.button(key="train").click().run())
    names = [t["name"] for t in figures(at)["Loss by step"]["data"] if t.get("opacity", 1) < 1]
    assert names == ["pinned: BatchNorm"]  # the previous run is the pinned one: drawn once


def test_a_run_that_ends_at_chance_is_a_warning_with_what_to_try_next():
    at = open_page("pages/live_lab.py", **START_HERE_PARAMS)
    settle(at.button(key="train").click().run())
    run = at.session_state[appkit.LIVE_RUN_KEY]
    assert run.status == "finished" and run.at_chance()
    assert not at.success
    assert "learned nothing" in texts(at.warning) and "BatchNorm" in texts(at.warning)


def test_a_diverged_run_names_the_step():
    at = open_page("pages/live_lab.py", norm="none", lr="5", seed=3)
    settle(at.button(key="train").click().run())
    assert not at.exception
    run = at.session_state[appkit.LIVE_RUN_KEY]
    assert run.status == "diverged"
    assert f"Diverged at step {run.diverged_at}" in texts(at.error)


def test_batch_size_one_with_batch_norm_is_explained():
    at = open_page("pages/live_lab.py", norm="batch", batch_size="1")
    settle(at.button(key="train").click().run())
    assert not at.exception
    assert "batch size 1" in texts(at.error) and "variance" in texts(at.error)


def test_a_finished_run_is_replayed_not_retrained():
    first = open_page("pages/live_lab.py", seed=21)
    settle(first.button(key="train").click().run())
    second = open_page("pages/live_lab.py", seed=21)  # another student, same link
    settle(second.button(key="train").click().run())
    assert second.session_state["live_replayed"]
    assert second.session_state[appkit.LIVE_RUN_KEY] is first.session_state[appkit.LIVE_RUN_KEY]


# --- the other lessons ----------------------------------------------------------------------

def test_compare_overlays_every_norm_and_says_which_converged_first():
    at = open_page("pages/compare.py", seed=4)
    at.button(key="compare_train").click().run()
    assert not at.exception
    by_step = figures(at)["Loss by step"]
    assert [trace["name"].split(" (")[0] for trace in by_step["data"]] == [
        "No norm", "BatchNorm", "LayerNorm", "RMSNorm"]
    assert "Loss by wall time" in figures(at)
    summary = texts(at.success)
    assert "got there first, at step" in summary and "Best final validation accuracy" in summary
    at.sidebar.number_input(key="keep_cfg_batch_size").set_value(8).run()
    at.button(key="compare_train").click().run()
    changed = figures(at)["Loss by step"]["data"][0]["y"]
    assert values(changed) != values(by_step["data"][0]["y"])


def test_inspector_steps_through_snapshots():
    at = open_page("pages/inspector.py", seed=5)
    assert not at.exception
    last = at.select_slider(key="keep_inspect_step").value
    at.button(key="inspect_previous").click().run()
    assert at.select_slider(key="keep_inspect_step").value < last
    at.selectbox(key="keep_inspect_layer").select(0).run()
    assert "Layer 0 at step" in " ".join(figures(at))
    assert not at.exception


def test_inspector_play_moves_the_slider_and_pause_holds_it():
    at = open_page("pages/inspector.py", seed=5)
    steps = [int(option) for option in at.select_slider(key="keep_inspect_step").options]
    at.button(key="inspect_play").click().run()  # at the last step: Play starts over
    first = at.select_slider(key="keep_inspect_step").value
    assert first in (steps[0], steps[1])
    at.run()  # one tick of the playing fragment (AppTest ticks on run())
    second = at.select_slider(key="keep_inspect_step").value
    assert steps.index(second) == steps.index(first) + 1
    assert f"at step {second}" in " ".join(figures(at))  # the charts follow the slider
    at.button(key="inspect_play").click().run()  # Pause
    held = at.select_slider(key="keep_inspect_step").value
    at.run()
    assert at.select_slider(key="keep_inspect_step").value == held
    assert at.button(key="inspect_play").label == "Play"
    assert not at.exception


def test_concepts_example_follows_the_seed_and_the_norm_picker():
    at = open_page("pages/concepts.py")
    before = at.table[0].value.to_numpy().tolist()
    at.number_input(key="keep_concepts_seed").set_value(3).run()
    assert at.table[0].value.to_numpy().tolist() != before
    at.radio(key="keep_concepts_norm").set_value("layer").run()
    assert any(title.startswith("LayerNorm") for title in figures(at))


def test_concepts_shows_each_norms_code_from_the_library():
    import inspect
    import textwrap

    from normlab import functional

    at = open_page("pages/concepts.py")
    code = [block.value for block in at.code]
    assert len(code) == 5  # BN, LN, RMS, GroupNorm, DyT
    backward = textwrap.dedent(inspect.getsource(functional.BatchNormFunction.backward))
    assert backward.strip() in code[0]
    assert "def dyt(" in code[-1]


def test_an_empty_worked_example_is_a_warning_not_an_error():
    at = open_page("pages/concepts.py")
    at.session_state["concepts_batch"] = at.session_state["concepts_batch"].iloc[0:0]
    at.run()  # as if every row had been deleted in the editor
    assert not at.exception
    assert "at least 2 examples" in texts(at.warning)


def test_start_here_opens_the_live_lab_and_trains_the_preset():
    at = open_page("pages/home.py")
    at.button(key="start").click().run()
    assert at.title[0].value == "Live lab"  # switched, and training started
    settle(at.switch_page("pages/live_lab.py"))  # AppTest's next run would be Home's again
    assert not at.exception
    run = at.session_state[appkit.LIVE_RUN_KEY]
    assert (run.config.norm, run.config.depth) == ("none", 20)
    assert "Loss by step" in figures(at)
