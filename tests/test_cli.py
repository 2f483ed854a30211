import json

from conftest import tiny_config

from weightspace.cli import main


def test_cli_create_info_presets(tmp_path, capsys):
    config = tmp_path / "zoo.json"
    config.write_text(json.dumps(tiny_config(seeds=1).to_dict()))
    out = tmp_path / "zoo"
    assert main(["zoo", "create", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    assert main(["zoo", "info", "--zoo", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 models" in text and "test_acc" in text and "varying factors: lr" in text
    assert main(["zoo", "presets"]) == 0
    assert "digits-hyp" in capsys.readouterr().out


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["zoo", "create", "--preset", "nope", "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --preset") and "digits-tiny" in err
    assert main(["zoo", "info", "--zoo", str(tmp_path / "missing")]) == 2
    assert "zoo directory not found" in capsys.readouterr().err
    assert main(["zoo", "create", "--out", str(tmp_path / "z")]) == 2
    assert "exactly one of --preset" in capsys.readouterr().err


def test_cli_fit_embed_and_resume_guard(tmp_path, capsys):
    import pyarrow.parquet as pq

    zoo, run = tmp_path / "zoo", tmp_path / "run"
    assert main(["zoo", "create", "--preset", "digits-tiny", "--out", str(zoo), "--quiet"]) == 0
    fit = ["fit", "--zoo", str(zoo), "--model", "sane", "--preset", "tiny", "--out", str(run)]
    assert main([*fit, "--epochs", "2", "--batch-size", "4", "--quiet"]) == 0
    assert "trained sane (tiny) for 2 epochs" in capsys.readouterr().out
    assert (run / "model.safetensors").is_file() and (run / "checkpoint" / "state.json").is_file()
    out = tmp_path / "embeddings.parquet"
    assert main(["embed", "--model", str(run), "--zoo", str(zoo), "--out", str(out)]) == 0
    table = pq.read_table(out)
    assert table.num_rows == 16 and table.schema.field("embedding").type.list_size == 8
    # the same run directory with other settings is refused, not silently mixed
    assert main([*fit, "--epochs", "3", "--batch-size", "4", "--quiet"]) == 2
    assert "error: --out" in capsys.readouterr().err
    assert main([*fit[:-2], "--preset", "huge", "--out", str(tmp_path / "r2")]) == 2
    assert "preset" in capsys.readouterr().err
