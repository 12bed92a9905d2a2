"""A 1 GB upload and download, generated on the fly and streamed, grows peak RSS by < 64 MB.

The probe (tests/media/rss_probe.py) runs the sandbox media host and the client in one fresh
process over HTTPS and reports the growth of ``ru_maxrss`` across the transfer, so the bound
covers the host's side as well.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env

SIZE_MB = 1024
LIMIT_MB = 64


@pytest.mark.slow
def test_one_gigabyte_in_bounded_memory() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.media.rss_probe", str(SIZE_MB), "https"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    print(report)
    assert report["size_mb"] == SIZE_MB
    assert report["growth_mb"] < LIMIT_MB, report
