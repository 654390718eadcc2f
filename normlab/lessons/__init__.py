"""The lessons: one module per lesson, each an experiment that tests a claim and returns frames.

A lesson's key is its module's name, and the same key is used everywhere: the CLI's
`normlab lesson KEY`, a claim's `lesson`, and the app's page map (appkit.page_for_lesson).
Besides the lessons, `claims` judges the usual sentences about the norms and `presets` reruns
paper figures in miniature. Sweeps that train many networks accept `progress(fraction_done)`
and `should_stop()` callbacks; a stopped sweep returns the rows finished so far.
"""

LESSON_KEYS = ("batch_size", "batch_dependence", "train_eval", "depth", "invariances", "speed",
               "convergence", "concepts")
