import json

from conftest import tiny_config

from weightspace.cli import main


def test_cli_create_info_presets(tmp_path, capsys):
    config = tmp_path / "zoo.json"
    config.write_text(json.dumps(tiny_config(seeds=1).to_dict()))
    out = tmp_path / "zoo"
    assert main(["zoo", "create", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    assert main(["zoo", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 models" in text and "test_acc" in text and "varying factors: lr" in text
    assert main(["zoo", "presets"]) == 0
    assert "digits-hyp" in capsys.readouterr().out


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["zoo", "create", "--preset", "nope", "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --preset") and "digits-tiny" in err
    assert main(["zoo", "info", str(tmp_path / "missing")]) == 2
    assert "zoo directory not found" in capsys.readouterr().err
    assert main(["zoo", "create", "--out", str(tmp_path / "z")]) == 2
    assert "exactly one of --preset" in capsys.readouterr().err
