"""One command-line layer for every script: a dataclass of flags becomes a validated CLI.

    @dataclass
    class Args:
        steps: int = flag(1000, "optimizer steps", minimum=1)
        q: float = flag(math.inf, "norm exponent: 1 (average) .. inf (worst case)", minimum=1,
                        allow_inf=True)
        out: str | None = flag(None, "run folder (default: a fresh folder under runs/)")

    args = parse(Args, __doc__)

Every field is a ``--kebab-case`` flag with a help text (``flag`` requires one). Values are
checked as they are parsed, before any work starts, and a bad one stops the script with a
message naming the flag, the value and what is expected: ints and floats against their bounds
(NaN and infinities refused unless ``allow_inf``), booleans only as true/false (also 1/0,
yes/no), JSON flags only as JSON objects, choices against their list. A field typed
``X | None`` defaults to None ("keep the preset's value") and accepts ``none``. Checks across
fields belong in the dataclass's ``__post_init__`` (a ValueError there is reported the same way).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

ArgsT = TypeVar("ArgsT")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def flag(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    choices: Sequence[Any] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    allow_inf: bool = False,
    positional: bool = False,
) -> Any:
    """A dataclass field that is a command-line flag.

    Args:
        default: The value when the flag is absent (required when MISSING).
        help: What the flag does, shown by ``--help``.
        choices: The allowed values.
        minimum: The smallest allowed number.
        maximum: The largest allowed number.
        allow_inf: Whether a float flag may be ``inf`` (never NaN).
        positional: A positional argument instead of a ``--flag``.
    """
    if not help:
        raise TypeError("every flag needs a help text")
    metadata = {
        "help": help, "choices": choices, "minimum": minimum, "maximum": maximum,
        "allow_inf": allow_inf, "positional": positional,
    }  # fmt: skip
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: default.copy(), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def parse(args_class: type[ArgsT], description: str | None, argv: Sequence[str] | None = None):
    """Parse ``argv`` (default: ``sys.argv[1:]``) into an ``args_class`` instance.

    Exits with status 2 and a message naming the flag on any invalid value, as argparse does.
    """
    parser = build_parser(args_class, description)
    namespace = vars(parser.parse_args(argv))
    try:
        return args_class(**namespace)
    except ValueError as error:
        parser.error(str(error))


def build_parser(args_class: type, description: str | None) -> argparse.ArgumentParser:
    """The argparse parser of a dataclass of ``flag`` fields."""
    summary, _, details = (description or "").strip().partition("\n")
    parser = argparse.ArgumentParser(
        description=summary,
        epilog=details.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hints = typing.get_type_hints(args_class)
    for field in dataclasses.fields(args_class):
        meta = field.metadata
        if "help" not in meta:
            raise TypeError(f"{args_class.__name__}.{field.name} is not declared with flag()")
        kind, optional = _unwrap(hints[field.name])
        name = "--" + field.name.replace("_", "-")
        convert = _converter(name, kind, optional, meta)
        options: dict[str, Any] = {"type": convert, "help": _help(meta, field)}
        if _origin(kind) is list:
            options["nargs"] = "+"
        if meta["positional"]:
            parser.add_argument(field.name, **options)
            continue
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            options["required"] = True
        else:
            options["default"] = _default(field)
        parser.add_argument(name, dest=field.name, **options)
    return parser


def _origin(kind: Any) -> Any:
    """The container of a ``list[int]`` annotation, else the annotation itself."""
    return typing.get_origin(kind) or kind


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of an annotation such as ``int | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported flag type {annotation}")
        return members[0], True
    return annotation, False


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _help(meta: dict[str, Any], field: dataclasses.Field) -> str:
    text = meta["help"]
    if meta["choices"] is not None:
        text += f" ({' | '.join(str(choice) for choice in meta['choices'])})"
    default = _default(field) if not meta["positional"] else dataclasses.MISSING
    if default is not dataclasses.MISSING and default is not None and default != "":
        text += f" [default: {json.dumps(default) if isinstance(default, dict) else default}]"
    return text.replace("%", "%%")


def _converter(name: str, kind: Any, optional: bool, meta: dict[str, Any]) -> Callable:
    """A function str -> value that raises argparse.ArgumentTypeError naming the flag."""
    element = typing.get_args(kind)[0] if _origin(kind) is list else kind
    parse_one = {int: _int, float: _float, bool: _bool, str: str, dict: _json_object}[
        _origin(element)
    ]

    def convert(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        try:
            value = parse_one(text)
            _check_value(value, meta)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{name} {text!r}: {error}") from None
        return value

    return convert


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a number") from None


def _bool(text: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError(f"expected true or false (or one of {TRUE + FALSE})")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"expected a JSON object: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object such as '{{\"width\": 32}}', got a {type(value)}")
    return value


def _check_value(value: Any, meta: dict[str, Any]) -> None:
    """Raise ValueError unless ``value`` is finite (or allowed inf), in bounds and a choice."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value) or not meta["allow_inf"]:
            raise ValueError("expected a finite number")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ValueError(f"expected one of {list(meta['choices'])}")
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise ValueError(f"expected a value >= {meta['minimum']}")
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise ValueError(f"expected a value <= {meta['maximum']}")
