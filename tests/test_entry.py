"""A Ctrl-C while the command line is still importing torch and scikit-learn is one line too."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import default_sigint

import weightspace


def test_importing_the_package_loads_nothing_heavy():
    code = "import sys, weightspace; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert weightspace.SANE.__name__ == "SANE"  # the names still load, on first use


def test_ctrl_c_during_start_up_prints_one_line():
    code = "import sys; from weightspace._entry import run; sys.exit(run())"
    proc = subprocess.Popen(  # -X importtime: one stderr line per finished import, as it happens
        [sys.executable, "-X", "importtime", "-c", code, "zoo", "presets"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "torch" in line:  # a first part of torch is loaded: the command line is importing it
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130
    messages = [m for m in rest.splitlines() if not m.startswith("import time:")]
    assert messages == ["interrupted; run the same command again to resume"]
