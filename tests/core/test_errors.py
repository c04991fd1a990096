"""One error family mapped once to exit codes (CLI) and messages (GUI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailertagger.cli.main import main
from trailertagger.core import errors as E


def test_family_exit_codes_and_messages() -> None:
    cases = {
        E.UsageError("bad option"): 2, E.ConfigError("bad settings"): 2,
        E.TrainingError("no samples"): 2, E.MediaError("a.mp4", "corrupt"): 3,
        E.ModelMissingError("no weights"): 4, E.ModelChecksumError("bad sum"): 4,
        E.ModelCorruptError("bad graph"): 4, E.HeadError("wrong genres"): 4,
        E.PartialFailure("2 of 5 failed"): 1, E.Cancelled(): 130,
    }
    for err, code in cases.items():
        assert isinstance(err, E.TrailerTaggerError)
        assert E.exit_code_for(err) == err.exit_code == code
        assert E.user_message(err) == str(err)
    assert E.exit_code_for(KeyboardInterrupt()) == 130 and E.user_message(KeyboardInterrupt()) == "interrupted"
    assert E.exit_code_for(ZeroDivisionError("x")) == 1
    assert E.user_message(ZeroDivisionError("x")) == "internal error: ZeroDivisionError: x"
    assert isinstance(E.HeadError("x"), ValueError) and isinstance(E.TrainingError("x"), ValueError)


def test_classify_raises_family_members(tmp_path: Path) -> None:
    from trailertagger.core.classify.card import load_card
    from trailertagger.core.classify.models import ModelConfig
    from trailertagger.core.classify.runtime import OnnxHead
    from trailertagger.core.classify.train import fit, load_trained

    with pytest.raises(E.HeadError, match="not a readable model card"):
        load_card(tmp_path)
    with pytest.raises(E.HeadError):
        OnnxHead(tmp_path)
    with pytest.raises(E.TrainingError, match="unknown model kind"):
        ModelConfig(kind="nope")
    with pytest.raises(E.TrainingError, match="no training samples"):
        fit([], [])
    with pytest.raises(E.TrainingError, match="finished training folder"):
        load_trained(tmp_path)


def _stderr_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_cli_usage_errors_are_one_error_line_and_exit_2(capsys, tmp_path: Path) -> None:
    # argparse's own errors (bad choice, bad type, unknown option, --workers -1) ...
    for argv in (["extract", "--profile", "nope", str(tmp_path)], ["tags", "--limit", "-1"],
                 ["extract", "--no-such-option"], ["no-such-command"]):
        assert main(argv) == 2, argv
        lines = _stderr_lines(capsys)
        assert len(lines) == 1 and lines[0].startswith("error: trailertagger"), (argv, lines)
        assert "--help" in lines[0]
    # ... a command's own checks ...
    assert main(["gui", "--workers", "-1"]) == 2
    assert _stderr_lines(capsys) == ["error: trailertagger gui: argument --workers: must be 0 or "
                                     "more, got -1 (see 'trailertagger gui --help')"]
    assert main(["train", "--epochs", "1"]) == 2
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: no data")
    # ... and no command at all: the help, then the same kind of line
    assert main([]) == 2
    assert _stderr_lines(capsys)[-1] == "error: no command given"
