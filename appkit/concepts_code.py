"""The Concepts page's code: each norm's forward and hand-derived backward, read from
normlab.functional with inspect.getsource (so the page shows what runs), beside its formula."""

from __future__ import annotations

import inspect
import textwrap

from normlab import functional as F


def _methods(function_class) -> str:
    return "\n".join(textwrap.dedent(inspect.getsource(getattr(function_class, name)))
                      for name in ("forward", "backward"))


NORM_CODE: list[tuple[str, str, str]] = [  # (tab title, LaTeX, source)
    ("BatchNorm",
     r"y_{nd} = \gamma_d\,\frac{x_{nd} - \mu_d}{\sqrt{\sigma_d^2 + \epsilon}} + \beta_d",
     inspect.getsource(F._batch_norm_forward) + "\n" + _methods(F.BatchNormFunction)),
    ("LayerNorm",
     r"y_{nd} = \gamma_d\,\frac{x_{nd} - \mu_n}{\sqrt{\sigma_n^2 + \epsilon}} + \beta_d",
     inspect.getsource(F._layer_norm_forward) + "\n" + _methods(F.LayerNormFunction)),
    ("RMSNorm",
     r"y_{nd} = \gamma_d\,\frac{x_{nd}}{\sqrt{\tfrac{1}{D}\sum_{d'} x_{nd'}^2 + \epsilon}}",
     inspect.getsource(F._rms_norm_forward) + "\n" + _methods(F.RMSNormFunction)),
    ("GroupNorm",
     r"y_{ncs} = \gamma_c\,\frac{x_{ncs} - \mu_{ng}}{\sqrt{\sigma_{ng}^2 + \epsilon}}"
     r" + \beta_c,\quad c \in g",
     inspect.getsource(F._group_norm_forward) + "\n" + _methods(F.GroupNormFunction)),
    ("DyT", r"y_{nd} = \gamma_d \tanh(\alpha\, x_{nd}) + \beta_d",
     "# DyT has no statistics to differentiate by hand: torch's autograd takes its backward.\n"
     + inspect.getsource(F.dyt)),
]
