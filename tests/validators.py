"""DICOM validators for tests: dicom3tools ``dciodvfy``, dcmtk re-encoders.

A missing tool fails the test (``pytest.fail``): conformance checks are never skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:  # a missing validator fails the test: never skip conformance
        pytest.fail(f"{name} is not installed (apt-get install {package})")
    return path


def dciodvfy_errors(path: Path, scratch: Path | None = None) -> list[str]:
    """Run dicom3tools ``dciodvfy`` on ``path``; return its lines that say "Error".

    dciodvfy cannot read Deflated Explicit VR Little Endian, so such a file is first
    inflated with dcmtk's ``dcmconv +te`` into ``scratch`` (default: next to it).
    """
    dciodvfy = _tool("dciodvfy", "dicom3tools")
    target = Path(path)
    syntax = pydicom.dcmread(target, stop_before_pixels=True).file_meta.TransferSyntaxUID
    if syntax == DeflatedExplicitVRLittleEndian:
        inflated = (scratch or target.parent) / f"{target.stem}.inflated.dcm"
        subprocess.run(
            [_tool("dcmconv", "dcmtk"), "+te", str(target), str(inflated)],
            check=True,
            capture_output=True,
        )
        target = inflated
    result = subprocess.run([dciodvfy, str(target)], capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if "Error" not in output and not output.strip():
        pytest.fail(f"dciodvfy printed nothing for {path}: did it run? rc={result.returncode}")
    return [line for line in output.splitlines() if "Error" in line]


def dcmcjpeg_lossless(source: Path, target: Path) -> Path:
    """Re-encode ``source`` as JPEG Lossless SV1 (1.2.840.10008.1.2.4.70) with dcmtk."""
    subprocess.run(
        [_tool("dcmcjpeg", "dcmtk"), "+e1", "+un", str(source), str(target)],
        check=True,
        capture_output=True,
    )
    return target
