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
               "convergence", "concepts", "transformer")


def run_lesson(key: str) -> dict[str, pd.DataFrame]:
    """Lesson `key`'s experiment at its defaults, as named tidy frames (`normlab lesson KEY`)."""
    # Imported here: the lesson modules import this package's _common, so not at the top.
    from normlab.lessons import (
        batch_dependence,
        batch_size,
        concepts,
        convergence,
        depth,
        invariances,
        speed,
        train_eval,
        transformer,
    )

    def worked_example() -> dict[str, pd.DataFrame]:
        batch = concepts.example_batch(0)
        outputs = concepts.worked_example(batch, gain=1.0, shift=0.0, batches_seen=10)
        named = {"batch": batch, **{name.lower().replace(" (", "_").strip(")").replace(" ", "_"):
                                    frame for name, frame in outputs.items()}}
        return {name: frame.rename_axis("example").reset_index() for name, frame in named.items()}

    experiments = {
        "batch_size": lambda: {"batch_size": batch_size.batch_size_sweep()},
        "batch_dependence": lambda: batch_dependence.batch_dependence()._asdict(),
        "train_eval": lambda: {"running_stats": train_eval.running_stats_trace(),
                               "biased_vs_unbiased": train_eval.biased_vs_unbiased()},
        "depth": lambda: depth.depth_sweep()._asdict(),
        "invariances": lambda: {"invariances": invariances.invariance_table()},
        "speed": lambda: speed.time_norms()._asdict(),
        "convergence": lambda: {"convergence": convergence.convergence_sweep()},
        "concepts": worked_example,  # the batch and each norm's output for it
        "transformer": lambda: transformer.transformer_lesson()._asdict(),
    }
    if key not in experiments:
        raise ValueError(f"unknown lesson {key!r}; one of {', '.join(LESSON_KEYS)}")
    return experiments[key]()
