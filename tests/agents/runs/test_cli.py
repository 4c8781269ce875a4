from __future__ import annotations

import dataclasses
import math

import pytest

from agents.runs.cli import build_parser, flag, parse


@dataclasses.dataclass
class Args:
    path: str = flag(help="a file", positional=True)
    steps: int = flag(10, "optimizer steps", minimum=1)
    q: float = flag(math.inf, "norm exponent", minimum=1, allow_inf=True)
    lr: float = flag(1e-3, "learning rate", minimum=0)
    compile: bool = flag(False, "torch.compile the step")
    model: dict = flag({}, "JSON overrides")
    variant: str = flag("q_R", "training variant", choices=("E_R", "q_R"))
    m: int | None = flag(None, "seeds (default: the preset's)", minimum=1)
    majority: list[int] = flag([5, 31], "voting seeds")

    def __post_init__(self) -> None:
        if self.variant == "E_R" and self.q != 1:
            raise ValueError("--variant E_R needs --q 1")


def test_flags_are_kebab_case_with_defaults_and_types():
    args = parse(Args, "doc", ["x.pt", "--steps", "3", "--compile", "true", "--model", '{"a": 1}'])
    assert args == Args("x.pt", 3, math.inf, 1e-3, True, {"a": 1}, "q_R", None, [5, 31])
    assert parse(Args, "doc", ["x", "--m", "none", "--majority", "3", "7"]).majority == [3, 7]
    assert parse(Args, "doc", ["x", "--q", "inf"]).q == math.inf


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--steps", "0"], ["--steps", "'0'", ">= 1"]),
        (["--steps", "2.5"], ["--steps", "integer"]),
        (["--lr", "nan"], ["--lr", "finite"]),
        (["--lr", "inf"], ["--lr", "finite"]),
        (["--q", "nan"], ["--q", "finite"]),
        (["--compile", "yes please"], ["--compile", "true or false"]),
        (["--model", "[1, 2]"], ["--model", "JSON object"]),
        (["--model", "{bad"], ["--model", "JSON object"]),
        (["--variant", "X"], ["--variant", "one of"]),
        (["--variant", "E_R"], ["E_R needs --q 1"]),
        (["--no-such-flag", "1"], ["unrecognized"]),
    ],
)
def test_bad_values_exit_2_naming_the_flag_and_the_expectation(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(Args, "doc", ["x.pt", *argv])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    for word in words:
        assert word in message


def test_every_flag_has_help_and_missing_help_is_a_developer_error():
    text = build_parser(Args, "Summary line.\n\nDetails.").format_help()
    for help_text in ("optimizer steps", "norm exponent", "JSON overrides", "[default: 10]"):
        assert help_text in text

    @dataclasses.dataclass
    class Bare:
        steps: int = 3

    with pytest.raises(TypeError, match="flag"):
        build_parser(Bare, "doc")
    with pytest.raises(TypeError, match="help"):
        flag(3)
