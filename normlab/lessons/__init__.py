"""The lessons: one module per lesson, each an experiment that tests a claim and returns frames.

A lesson's key is its module's name, and the same key is used everywhere: the CLI's
`normlab lesson KEY`, a claim's `lesson`, and the app's page map (appkit.page_for_lesson).
Besides the lessons, `claims` judges the usual sentences about the norms and `presets` reruns
paper figures in miniature. Sweeps that train many networks accept `progress(fraction_done)`
and `should_stop()` callbacks; a stopped sweep returns the rows finished so far.
"""

from __future__ import annotations

import pandas as pd

LESSON_KEYS = ("batch_size", "batch_dependence", "train_eval", "depth", "invariances", "speed",
               "convergence", "concepts", "why_bn", "lr_window", "data_view",
               "transformer")


def run_lesson(key: str) -> dict[str, pd.DataFrame]:
    """Lesson `key`'s experiment at its defaults, as named tidy frames (`normlab lesson KEY`)."""
    # Imported here: the lesson modules import this package's _common, so not at the top.
    from normlab.lessons import (
        batch_dependence,
        batch_size,
        claims,
        concepts,
        convergence,
        data_view,
        depth,
        invariances,
        lr_window,
        speed,
        train_eval,
        transformer,
        why_bn,
    )

    def worked_example() -> dict[str, pd.DataFrame]:
        batch = concepts.example_batch(0)
        outputs = concepts.worked_example(batch, gain=1.0, shift=0.0, batches_seen=10)
        named = {"batch": batch, **{name.lower().replace(" (", "_").strip(")").replace(" ", "_"):
                                    frame for name, frame in outputs.items()}}
        return {name: frame.rename_axis("example").reset_index() for name, frame in named.items()}

    experiments = {
        # the Batch size page's experiment: its claim's, at the claim's defaults (two budgets)
        "batch_size": lambda: {"batch_size": batch_size.batch_size_study(
            **claims.CLAIMS_BY_ID["bn_robust_to_batch_size"].defaults)},
        "batch_dependence": lambda: batch_dependence.batch_dependence()._asdict(),
        "train_eval": lambda: {"running_stats": train_eval.running_stats_trace(),
                               "biased_vs_unbiased": train_eval.biased_vs_unbiased()},
        "depth": lambda: depth.depth_sweep()._asdict(),
        "invariances": lambda: {"invariances": invariances.invariance_table()},
        "speed": lambda: speed.time_norms()._asdict(),
        "convergence": lambda: {"convergence": convergence.convergence_sweep()},
        "concepts": worked_example,  # the batch and each norm's output for it
        "why_bn": lambda: (lambda result: {
            **result._asdict(), "smoothness": why_bn.smoothness(result.probes),
            "distribution_shift": why_bn.distribution_shift(result.shift),
            "accuracy": why_bn.accuracy_intervals(result.runs)})(why_bn.why_bn()),
        "lr_window": lambda: (lambda runs: {
            "runs": runs, "points": lr_window.lr_points(runs),
            "windows": lr_window.stable_windows(runs)})(lr_window.lr_sweep()),
        "data_view": lambda: {**data_view.decision_regions()._asdict(),
                              "misclassified_digits": data_view.misclassified_digits()},
        "transformer": lambda: transformer.transformer_lesson()._asdict(),
    }
    if key not in experiments:
        raise ValueError(f"unknown lesson {key!r}; one of {', '.join(LESSON_KEYS)}")
    return experiments[key]()
