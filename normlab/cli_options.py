"""The CLI's options, built from TrainConfig itself: one `--option` per field, its type and
default from the dataclass, help text and choices from its metadata (config.knob), its range
from config.LIMITS; a value is checked by TrainConfig.validated(), so the CLI refuses exactly
what the library refuses."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from normlab.config import LIMITS, ConfigError, TrainConfig

FIELDS = tuple(spec.name for spec in dataclasses.fields(TrainConfig))
DEFAULTS = TrainConfig()
SWEEP_ALIASES = {"seed": ["--seeds"]}  # `--seeds 0,1,2` reads better in a grid


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


SPECS = {spec.name: spec for spec in dataclasses.fields(TrainConfig)}


def choices_for(name: str) -> tuple[str, ...] | None:
    """The allowed values of a text field, from its metadata (config.knob); None for a number."""
    return SPECS[name].metadata["choices"]


def help_for(name: str) -> str:
    """Why the field's default is what it is, from its metadata (config.knob); may be empty."""
    return SPECS[name].metadata["help"]


def _base_type(name: str) -> tuple[type, bool]:
    """(the field's type, whether None is allowed), from the annotation `float | None`."""
    hint = typing.get_type_hints(TrainConfig)[name]
    args = typing.get_args(hint)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _number(value: float) -> str:
    """A limit as people write it: 64, 0.05, 1e-06, 2147483647."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_value(name: str, text: str):
    """One command-line string as a value of field `name`, or an ArgumentTypeError saying why."""
    base, optional = _base_type(name)
    text = text.strip()
    if optional and text.lower() == "none":
        return None
    if base is bool:
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise argparse.ArgumentTypeError(f"expected true or false (got {text!r})")
        return text.lower() in ("true", "yes", "1")
    if base in (int, float):
        try:
            value = base(text)
        except ValueError:
            what = "a whole number" if base is int else "a number"
            raise argparse.ArgumentTypeError(
                f"expected {what}{' or none' if optional else ''} (got {text!r})"
            ) from None
    else:
        value = text
    problem = _field_problem(name, value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _field_problem(name: str, value) -> str | None:
    """What TrainConfig.validated() says is wrong with this one value, whatever the others are.

    validated() checks every field on its own (choices, LIMITS, bn_momentum's range) before any
    rule that involves two fields, and names the field first; those combined rules (batch norm
    with batch size 1) are judged on the whole config instead.
    """
    try:
        dataclasses.replace(DEFAULTS, **{name: value}).validated()
    except ConfigError as err:
        message = str(err)
        if message.startswith(f"{name} "):
            return message[len(name) + 1:]
    return None


def parse_list(name: str, text: str) -> list:
    """A comma list of values of field `name`: `none,batch,layer`."""
    items = text.split(",")
    if any(not item.strip() for item in items):
        raise argparse.ArgumentTypeError(f"empty value in the list {text!r}")
    return [parse_value(name, item) for item in items]


def _help(name: str, comment: str, lists: bool) -> str:
    parts = [comment] if comment else []
    allowed = choices_for(name)
    if allowed and lists:  # `train` shows them in the metavar already
        parts.append("one of " + ", ".join(allowed))
    if name in LIMITS:
        lo, hi = LIMITS[name]
        parts.append(f"{_number(lo)} to {_number(hi)}")
    if _base_type(name)[1]:
        parts.append("a number, or none")
    default = getattr(DEFAULTS, name)
    parts.append(f"default: {'none' if default is None else default}")
    help_text = "; ".join(parts)
    return help_text.replace("%", "%%")  # argparse formats help strings with %


def add_config_options(parser: argparse.ArgumentParser, lists: bool) -> None:
    """One option per TrainConfig field; with `lists`, each takes a comma list of values."""
    title = "run (each option takes a comma list; the grid is every combination)" if lists \
        else "run"
    group = parser.add_argument_group(title)
    for name in FIELDS:
        allowed, default = choices_for(name), getattr(DEFAULTS, name)
        if lists:
            metavar = f"{name.upper()}[,...]"
        else:
            metavar = "{" + ",".join(allowed) + "}" if allowed else name.upper()
        group.add_argument(
            option(name), *(SWEEP_ALIASES.get(name, []) if lists else []),
            dest=name,
            type=(lambda text, n=name: parse_list(n, text)) if lists
            else (lambda text, n=name: parse_value(n, text)),
            default=[default] if lists else default,
            metavar=metavar,
            help=_help(name, help_for(name), lists),
        )
