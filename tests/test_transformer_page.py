"""The transformer lesson's page, and the lab's pages opened on a transformer, through AppTest."""

from pathlib import Path

from apptest_helpers import figures, settle, texts
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
CHARTS = ["Gradient norm per block at initialisation (one batch)",
          "Training loss: pre-LN vs post-LN, ± warm-up<br><sup>mean over seeds</sup>",
          "Final validation loss (mean over seeds, 95% interval)",
          "Validation loss: equal steps, equal time<br><sup>mean over seeds, 95% interval</sup>"]


def open_page(page: str, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for name, value in params.items():
        at.query_params[name] = str(value)
    at.run()
    return at.switch_page(page).run()


def test_the_page_trains_in_two_stages_and_draws_every_chart():
    at = open_page("pages/transformer.py")
    assert not at.exception, at.exception
    assert "Train the transformers" in texts(at.info) and "Race the norms" in texts(at.info)
    assert "12 short runs" in texts(at.info)  # the default: 4 settings x 3 seeds
    assert list(figures(at)) == CHARTS[:1]  # the gradients at init: nothing trained yet
    assert "Toy scale: 4 blocks of width 32, 60 steps" in texts(at.caption)
    at.slider(key="tf_seeds").set_value(2)
    at.slider(key="tf_steps").set_value(20)
    at.slider(key="tf_warmup").set_value(10)
    at.button(key="tf_run").click().run()
    assert not at.exception, at.exception
    assert set(figures(at)) == set(CHARTS[:3])  # the warm-up result first; the race waits
    assert "Post-LN's final validation loss" in texts(at.info)
    assert "8 runs trained in" in texts(at.caption) and "Race the norms" in texts(at.info)
    at.multiselect(key="tf_norms").set_value(["layer", "dyt"])
    at.button(key="tf_race_run").click().run()
    assert not at.exception, at.exception
    assert set(figures(at)) == set(CHARTS)
    race = figures(at)[CHARTS[3]]
    assert {tuple(trace["x"]) for trace in race["data"]} == {("LayerNorm", "DyT")}
    assert "CPU s" in texts(at.info)
    assert "Try this" in texts(at.subheader) and at.get("page_link")


def test_the_lab_pages_open_on_a_transformer_link():
    for page in ("pages/live_lab.py", "pages/compare.py", "pages/inspector.py"):
        at = open_page(page, model="transformer", dataset="reverse", norm="rms", depth=2,
                       steps=10)
        assert not at.exception, (page, at.exception)
        assert at.radio(key="keep_cfg_model").value == "transformer"
        assert at.selectbox(key="keep_cfg_dataset").value == "reverse"


def test_live_lab_trains_a_transformer():
    at = open_page("pages/live_lab.py", model="transformer", dataset="reverse", norm="layer",
                   depth=2, steps=20)
    settle(at.button(key="train").click().run())
    assert not at.exception, at.exception
    assert "Finished 20 steps" in texts(at.success) + texts(at.warning)
    spread = next(fig for title, fig in figures(at).items() if title.startswith("Spread"))
    assert len(spread["data"][0]["y"]) == 2  # one row per block: the per-block charts were drawn


def test_choosing_the_transformer_in_the_sidebar_picks_a_sequence_task_and_a_token_norm():
    at = open_page("pages/live_lab.py")  # the default: batch norm on digits
    at.radio(key="keep_cfg_model").set_value("transformer").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="keep_cfg_dataset").value == "reverse"
    assert at.selectbox(key="keep_cfg_norm").value == "layer"
    assert "cannot take batch" in texts(at.sidebar.info)
    at.selectbox(key="keep_cfg_dataset").set_value("digits").run()
    assert at.radio(key="keep_cfg_model").value == "mlp"


def test_compare_trains_the_transformer_norms_and_refuses_batch_norm_with_its_reason():
    at = open_page("pages/compare.py", model="transformer", dataset="reverse", depth=2,
                   steps=10)
    at.button(key="compare_train").click().run()
    assert not at.exception, at.exception
    assert "later tokens" in texts(at.error)  # batch norm, in the default selection
    assert "Validation loss per optimizer step" in " ".join(texts(at.caption).split())
