import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:  # later examples continue from earlier ones
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["X"].shape == (4, 1096)
    assert len(namespace["y"]) == 4
    assert namespace["weights"].shape[1] == 1096
    assert namespace["embeddings"].shape == (16, 8)


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
