"""Out-of-range and misspelled settings (issue 9, case 3).

Before: ``[jobs] workers = 99999999999999999999`` started processes until memory ran out;
``max_scenes = 0``, ``scene_threshold = 5.0``, ``audio_rate = 1``, ``frame_max_side = 0``,
``max_duration_s = 0`` and ``device = "tpu"`` passed ``status`` and then failed every video
one by one; a misspelled key was silently a default.  Now every numeric setting has a
documented range checked when the file loads (exit 2 naming the file, the key and the
range), and unknown keys are warned about with the closest known key.
"""

from __future__ import annotations

import logging

import pytest

from tests.faults.support import assert_sane
from trailertagger.cli.main import main
from trailertagger.core import config
from trailertagger.core.paths import app_dirs


def write(text: str):
    cfg = app_dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text, encoding="utf-8")
    return cfg


@pytest.mark.parametrize("text, key, rng", [
    ("[jobs]\nworkers = 99999999999999999999\n", "[jobs] workers", "from 0 to 64"),
    ("[jobs]\nworkers = 65\n", "[jobs] workers", "from 0 to 64"),
    ("[media]\nmax_scenes = 0\n", "[media] max_scenes", "from 1 to 10000"),
    ("[media]\nscene_threshold = 5.0\n", "[media] scene_threshold", "from 0 to 1"),
    ("[media]\naudio_rate = 1\n", "[media] audio_rate", "from 8000 to 192000"),
    ("[media]\nframe_max_side = 0\n", "[media] frame_max_side", "from 16 to 8192"),
    ("[media]\nmax_duration_s = 0\n", "[media] max_duration_s", "from 1 to 604800"),
    ("[media]\nscene_threshold = nan\n", "[media] scene_threshold", "must be a number"),
    ("[extract]\nlanes = 1000\n", "[extract] lanes", "from 0 to 64"),
    ("[jobs]\nmax_attempts = 0\n", "[jobs] max_attempts", "from 1 to 100"),
    ('[extract]\ndevice = "tpu"\n', "[extract] device", '"cpu", "cuda" or "cuda:N"'),
])
def test_an_out_of_range_setting_is_exit_2_naming_file_key_and_range(text, key, rng, capsys):
    cfg = write(text)
    for argv in (["status"], ["jobs", "list"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert str(cfg) in err and key in err and rng in err and "Traceback" not in err, err


def test_every_numeric_default_has_a_range_and_lies_in_it():
    for section, values in config.DEFAULTS.items():
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                low, high = config.RANGES[(section, key)]
                assert low <= value <= high, (section, key)
    assert config.validate(config.DEFAULTS) == []
    assert "(range 0 to 64)" in config.default_toml()  # the template documents them


def test_unknown_keys_and_a_missing_override_dir_are_warned_about(tmp_path, capsys, caplog):
    config._warned.clear()
    write('[jobs]\nworker = 4\n[media]\nworkers = 2\n[model]\nx = 1\n'
          f'[models]\noverride_dir = "{tmp_path / "nope"}"\n')
    with caplog.at_level(logging.WARNING, logger="trailertagger.core.config"):
        assert main(["status"]) == 0
    text = caplog.text + capsys.readouterr().err
    assert "unknown key [jobs] worker; did you mean workers?" in text
    assert "unknown key [media] workers; it belongs in [jobs] workers" in text
    assert "unknown section [model]; did you mean [models]?" in text
    assert "override_dir" in text and "does not exist" in text
    assert caplog.text.count("did you mean workers?") == 1  # once per process, not per read
    assert_sane()
