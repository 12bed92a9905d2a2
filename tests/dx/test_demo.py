"""``wamd demo`` runs as a newcomer runs it: a subprocess whose exit code and output say
what was verified."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import subprocess_env
from wamd.cli.demo import sample_png

CHECKS = (
    "ok: Alice paired by QR code and logged in as 15550001234:",
    "ok: Bob paired by code and logged in as 15550005678:",
    "ok: Bob decrypted Alice's text: 'Hello Bob, this is Alice!'",
    "ok: Alice got the delivery receipt",
    "ok: Bob read it: Alice got the read receipt",
    "ok: Bob replied quoting Alice's message",
    "ok: Alice reacted 👍 to the reply; Bob saw it",
    "ok: Alice edited her text; Bob saw the new text 'Hello Bob, this is Alice (edited)'",
    "ok: Alice deleted her text for everyone; Bob got the revoke",
    "ok: Bob voted; Alice decrypted and counted it: {'pizza': 0, 'sushi': 1, 'salad': 0}",
    "byte-identical, caption 'a gradient'",
    "ok: Bob was told he is in the group, with 2 members",
    "ok: Bob got the group message (sender key): 'Welcome to the group!'",
    "ok: Bob reconnected and logged in again as 15550005678:",
    "ok: Bob got the message Alice sent while he was away",
    "ok: Alice logged in again as 15550001234:",
    "ok: the restarted client's message reached Bob",
    "ok: clean shutdown",
)


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wamd", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        check=False,
    )


@pytest.mark.slow
def test_the_tour_checks_every_step_and_exits_0() -> None:
    proc = demo()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    position = 0
    for expected in CHECKS:  # in this order
        found = out.find(expected, position)
        assert found >= 0, f"{expected!r} missing (in order) from:\n{out}"
        position = found
    assert f"Demo finished: all {len(CHECKS)} checks passed" in out
    assert "\u2584" in out or "\u2580" in out or "\u2588" in out  # the QR code was drawn
    assert proc.stderr == ""


@pytest.mark.slow
def test_code_swaps_the_pairing_methods_and_no_qr_draws_none() -> None:
    proc = demo("--code", "--no-qr")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: Alice paired by code and logged in as 15550001234:" in proc.stdout
    assert "ok: Bob paired by QR code and logged in as 15550005678:" in proc.stdout
    assert "\u2588" not in proc.stdout
    assert "\u2584" not in proc.stdout


def test_a_step_that_times_out_fails_with_the_reason_and_exit_1() -> None:
    proc = demo("--no-qr", "--step-timeout", "0.001")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "demo FAILED in step 2: Alice" in proc.stderr
    assert "within 0.001 s" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Demo finished" not in proc.stdout


def test_the_sample_image_is_a_valid_png() -> None:
    with Image.open(io.BytesIO(sample_png(20, 10))) as image:
        image.load()
        assert (image.format, image.size, image.mode) == ("PNG", (20, 10), "RGB")
        assert image.getpixel((3, 2)) == (12, 10, 160)
