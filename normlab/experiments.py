"""Kept so `from normlab import experiments` still works: the lessons live in normlab.lessons.

New code imports the lesson module itself (`from normlab.lessons import depth`).
"""
# ruff: noqa: F401
from normlab.lessons._common import QUICK, Progress, ShouldStop
from normlab.lessons.batch_dependence import BatchDependence, batch_dependence
from normlab.lessons.batch_size import (
    BATCH_SIZE_COLUMNS,
    BATCH_SIZE_QUICK,
    batch_size_sweep,
    train_mode_accuracy,
)
from normlab.lessons.claims import (
    CLAIMS,
    CLAIMS_BY_ID,
    DOES_NOT_HOLD,
    HOLDS,
    Claim,
    Verdict,
    check_claim,
    holds_only_when,
    verdict_bn_robust_to_batch_size,
    verdict_bn_speeds_convergence,
    verdict_ln_independent_of_batch_mates,
    verdict_ln_less_stable_than_bn,
    verdict_rms_cheaper_than_layer,
    verdict_rms_invariant_to_rescaling,
)
from normlab.lessons.convergence import (
    CONVERGENCE_COLUMNS,
    CONVERGENCE_QUICK,
    convergence_summary,
    convergence_sweep,
    steps_to,
    steps_to_accuracy,
)
from normlab.lessons.data_view import (
    DATA_VIEW_QUICK,
    DIGITS_QUICK,
    TOY_DATASETS,
    DataView,
    decision_regions,
    misclassified_digits,
)
from normlab.lessons.depth import (
    DEPTH_CLAIM,
    DEPTH_LAYER_COLUMNS,
    DEPTH_QUICK,
    DEPTH_SUMMARY_COLUMNS,
    DepthSweep,
    depth_sweep,
)
from normlab.lessons.invariances import (
    PAPER_TABLE,
    RESCALED,
    RESCALINGS,
    TRANSFORMATIONS,
    invariance_table,
    paper_table,
)
from normlab.lessons.lr_window import (
    LR_GRID,
    LR_NORMS,
    LR_QUICK,
    lr_points,
    lr_sweep,
    stable_windows,
    verdict_larger_lr,
)
from normlab.lessons.presets import (
    PRESETS,
    RUN_SHOWS,
    Preset,
    ba_says,
    first_step,
    ioffe_says,
    run_preset,
    what_the_run_shows,
    wu_he_says,
)
from normlab.lessons.speed import (
    IMPLEMENTATIONS,
    RATIO_COLUMNS,
    SPEED_NORMS,
    TIME_COLUMNS,
    Timings,
    rms_over_layer,
    time_norms,
)
from normlab.lessons.train_eval import biased_vs_unbiased, momentum_label, running_stats_trace
from normlab.lessons.transformer import (
    TRANSFORMER_QUICK,
    TransformerLesson,
    gradients_at_init,
    norm_race,
    transformer_lesson,
    warmup_sweep,
)
from normlab.lessons.why_bn import (
    CONDITIONS,
    WHY_BN_QUICK,
    WhyBN,
    accuracy_intervals,
    distribution_shift,
    smoothness,
    verdict_bn_smoother,
    verdict_noise_keeps_the_gain,
    why_bn,
)
