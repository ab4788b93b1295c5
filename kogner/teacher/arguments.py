"""Command-line options of the teacher build, derived from the fields of :class:`TeacherSettings`.

Each field with a ``metadata["help"]`` (the ``HfArgumentParser`` convention) is one ``--dashed-name``
option with the field's type and default; an ``int | None`` field takes 0 for None, a tuple one or more values.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import Field, fields

from kogner.checks import option_name

from .settings import TeacherSettings


def _options() -> list[tuple[Field, dict[str, object], bool]]:
    """Each command-line field, the keywords of its ``add_argument`` and whether 0 stands for None."""
    hints = typing.get_type_hints(TeacherSettings)
    options = []
    for field in fields(TeacherSettings):
        if "help" not in field.metadata:
            continue
        hint = hints[field.name]
        kinds = [kind for kind in typing.get_args(hint) if kind not in (type(None), Ellipsis)] or [hint]
        help_text = field.metadata["help"]
        if "default" not in help_text:  # "dim" -> "dim (default 64)", "(0 = all)" -> "(0 = all; default 16)"
            closing = help_text.endswith(")")
            help_text = help_text.removesuffix(")") + ("; " if closing else " (") + "default %(default)s)"
        zero_is_none = kinds[0] is int and type(None) in typing.get_args(hint)
        default = (field.default or 0) if zero_is_none else field.default
        keywords: dict[str, object] = {"type": kinds[0], "default": default, "help": help_text}
        if typing.get_origin(hint) is tuple:
            keywords.update(nargs="+", default=list(field.default))
        options.append((field, keywords, zero_is_none))
    return options


def add_teacher_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`TeacherSettings` field that has a help text, with its default."""
    teacher = parser.add_argument_group("teacher (defaults fit a 2-core CPU)")
    for field, keywords, _ in _options():
        teacher.add_argument(option_name(field.name), **keywords)


def settings_from_args(args: argparse.Namespace) -> TeacherSettings:
    """:class:`TeacherSettings` from the options of :func:`add_teacher_arguments` (0 -> None, lists -> tuples)."""
    values = {}
    for field, keywords, zero_is_none in _options():
        if hasattr(args, field.name):
            value = getattr(args, field.name)
            if keywords.get("nargs"):
                value = tuple(value)
            elif zero_is_none:
                value = value or None
            values[field.name] = value
    return TeacherSettings(**values)
