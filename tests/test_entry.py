"""A Ctrl-C while the command line is still importing torch and scikit-learn is one line too."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import weightspace


def test_importing_the_package_loads_nothing_heavy():
    code = "import sys, weightspace; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert weightspace.SANE.__name__ == "SANE"  # the names still load, on first use


def test_ctrl_c_during_start_up_prints_one_line():
    code = "import sys; from weightspace._entry import run; sys.exit(run())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "zoo", "presets"], stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.3)  # inside the imports of the command line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130  # torch and scikit-learn take far longer than 0.3 s to load
    assert err.strip() == "interrupted; run the same command again to resume"
