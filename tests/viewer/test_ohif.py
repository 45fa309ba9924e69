"""End to end in a real viewer: our SEG and TID 1500 SR, stored in Orthanc, shown by OHIF.

The prebuilt OHIF Viewer (``viewer/node_modules/@ohif/app/dist``) is served same-origin
with Orthanc's DICOMweb by ``ccta_ai.viewer.serve``; ``ohif_check.mjs`` drives Debian's
headless Chromium through it as a reader would (open the study, double-click the SEG,
then the SR) and reports what the page showed. Screenshots stay in
``tests/viewer/artifacts/``.

Nothing here skips: CI installs Chromium (apt) and the node modules (``npm ci --prefix
viewer``) in scripts/setup.sh, so a missing one fails with what to run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from viewer_samples import SHOWN_MEASUREMENT, ViewerStudy, viewer_study

from ccta_ai.service.launcher import OrthancServer
from ccta_ai.viewer.serve import DIST_DIR, VIEWER_DIR, ViewerServer

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = Path(__file__).with_name("ohif_check.mjs")
ARTIFACTS = Path(__file__).with_name("artifacts")
SETUP_HINT = "run scripts/setup.sh (apt-get install chromium; npm ci --prefix viewer)"

#: Console messages of OHIF itself that say nothing about our data, each with why it is
#: benign. Anything else that OHIF logs as a warning or an error fails the test.
BENIGN_CONSOLE: list[tuple[str, str]] = [
    (r"^ContentSequence array contains no SCOORD or SCOORD3D entry, skipping annotation\.$",
     "OHIF draws a number of an SR only when a SCOORD is among its content items; a "
     "number qualified by concept modifiers alone (method, derivation) is valid TID 300 "
     "and stays in the SR for other readers, OHIF just does not draw it"),
]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> ViewerStudy:
    return viewer_study(tmp_path_factory.mktemp("viewer-study"))


def _tools() -> tuple[str, Path]:
    node = shutil.which("node")
    assert node, f"node is missing: {SETUP_HINT}"
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: {SETUP_HINT}"
    assert (VIEWER_DIR / "node_modules" / "puppeteer-core").is_dir(), (
        f"puppeteer-core is not installed in {VIEWER_DIR}: {SETUP_HINT}")
    assert (DIST_DIR / "index.html").exists(), f"OHIF's dist/ is missing: {SETUP_HINT}"
    return node, CHROMIUM


def _store(study: ViewerStudy, orthanc: OrthancServer, viewer: ViewerServer) -> None:
    """The CT as a scanner sends it (C-STORE), our results over STOW-RS through the
    viewer's proxy (as a DICOMweb worker stores them)."""
    orthanc.store_scu(study.ct_paths)
    client = DICOMwebClient(f"{viewer.url}/dicom-web")
    client.store_instances([pydicom.dcmread(study.seg_path), pydicom.dcmread(study.sr_path)])
    series = client.search_for_series(study.study_instance_uid)
    modalities = sorted(s["00080060"]["Value"][0] for s in series)
    assert modalities == ["CT", "SEG", "SR"], modalities


def _run_check(node: str, chromium: Path, viewer: ViewerServer, study: ViewerStudy,
               work: Path) -> dict[str, Any]:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    config = {
        "viewerDir": str(VIEWER_DIR), "chromium": str(chromium), "url": viewer.url,
        "study": study.study_instance_uid, "segSeries": study.seg_series_description,
        "srSeries": study.sr_series_description, "segmentLabels": study.segment_labels,
        "measurementText": [study.measurement_name], "artifacts": str(ARTIFACTS),
        "timeoutMs": 90_000,  # software rendering on 2 loaded cores can take over 45 s a step
        # OHIF rarely goes to the SR's image and draws nothing until scrolled; the script
        # then moves the mouse over the viewport and scrolls, as a reader would.
        "nudgeAfterMs": 15_000,
    }
    config_path = work / "ohif_check.json"
    config_path.write_text(json.dumps(config), "utf-8")
    # Its own process group: on a timeout, Chromium goes with node (by the group's id).
    process = subprocess.Popen([node, str(SCRIPT), str(config_path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    assert process.returncode == 0, f"ohif_check.mjs failed:\n{stdout}\n{stderr}"
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"ohif_check.mjs printed no result:\n{stdout}\n{stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    (ARTIFACTS / "result.json").write_text(json.dumps(result, indent=2), "utf-8")
    return result


def _unexpected_console(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [m for m in messages
            if not any(re.search(pattern, m["text"]) for pattern, _ in BENIGN_CONSOLE)]


def _shown_values(text: str, name: str, unit: str) -> list[float]:
    """The numbers OHIF shows as ``NAME: VALUE UNIT``."""
    pattern = re.escape(name) + r":\s*(-?\d+(?:\.\d+)?)\s*" + re.escape(unit)
    return [float(value) for value in re.findall(pattern, text)]


# --- what OHIF 3.13 needs of a TID 1500 SR (found by the test below; docs/viewer.md) ---

_TRACKING_IDENTIFIER = codes.DCM.TrackingIdentifier
_IMAGING_MEASUREMENTS = codes.DCM.ImagingMeasurements


def _concept(item: Dataset) -> Code | None:
    if "ConceptNameCodeSequence" not in item:
        return None
    name = item.ConceptNameCodeSequence[0]
    return Code(name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning)


def _measurement_groups(sr: Dataset) -> dict[str, Dataset]:
    """The measurement groups under Imaging Measurements, by tracking identifier."""
    groups: dict[str, Dataset] = {}
    for container in sr.ContentSequence:
        if _concept(container) != _IMAGING_MEASUREMENTS:
            continue
        for group in container.ContentSequence:
            names = [i.TextValue for i in group.ContentSequence
                     if _concept(i) == _TRACKING_IDENTIFIER]
            groups[names[0] if names else f"group {len(groups) + 1}"] = group
    return groups


def _coordinates(group: Dataset) -> list[Dataset]:
    """SCOORD and SCOORD3D items of a group and of its numbers."""
    found = []
    for item in group.ContentSequence:
        if item.ValueType in ("SCOORD", "SCOORD3D"):
            found.append(item)
        elif item.ValueType == "NUM":
            found += [c for c in item.get("ContentSequence", [])
                      if c.ValueType in ("SCOORD", "SCOORD3D")]
    return found


def test_every_measurement_group_has_a_coordinate(study: ViewerStudy) -> None:
    """OHIF reads the first coordinate of every group: a group without one crashes its
    SR viewer ("Something went wrong", an empty viewport)."""
    groups = _measurement_groups(pydicom.dcmread(study.sr_path))
    assert groups
    assert [name for name, group in groups.items() if not _coordinates(group)] == []


def test_the_shown_measurement_has_a_2d_coordinate_on_a_ct_image(study: ViewerStudy) -> None:
    """OHIF goes to, and draws, a measurement only by a SCOORD on an image: one with
    SCOORD3D alone leaves the SR on image 1 with nothing drawn."""
    ct_uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
               for p in study.ct_paths}
    shown = [num for group in _measurement_groups(pydicom.dcmread(study.sr_path)).values()
             for num in group.ContentSequence
             if num.ValueType == "NUM" and _concept(num) == SHOWN_MEASUREMENT]
    assert shown, f"no {SHOWN_MEASUREMENT.meaning} in the SR"
    scoords = [c for c in shown[0].get("ContentSequence", []) if c.ValueType == "SCOORD"]
    assert scoords, f"{SHOWN_MEASUREMENT.meaning} has no SCOORD (2D) content item"
    images = [ref.ReferencedSOPInstanceUID for scoord in scoords
              for image in scoord.get("ContentSequence", []) if image.ValueType == "IMAGE"
              for ref in image.ReferencedSOPSequence]
    assert images and set(images) <= ct_uids


@pytest.mark.slow
def test_ohif_shows_our_seg_and_sr(dicomweb_orthanc: OrthancServer, viewer: ViewerServer,
                                   study: ViewerStudy, tmp_path: Path) -> None:
    node, chromium = _tools()
    started = time.perf_counter()
    _store(study, dicomweb_orthanc, viewer)
    stored_s = time.perf_counter() - started

    result = _run_check(node, chromium, viewer, study, tmp_path)
    print(f"stored in {stored_s:.1f} s; browser marks (ms): {result['marks']}")

    assert result["error"] is None, (
        f"{result['error']}\npage text: {result.get('lastText', '')[:2000]}\n"
        f"console: {_unexpected_console(result['console'])}\n"
        f"page errors: {result['pageErrors']}\n"
        f"{dicomweb_orthanc.logs()}")
    assert result["pageErrors"] == []
    assert _unexpected_console(result["console"]) == []
    assert result["httpErrors"] == []
    assert result["failedRequests"] == []
    seg_text = result["steps"]["seg"]["text"]
    for label in study.segment_labels:
        assert label in result["segmentRows"], (label, result["segmentRows"])
        assert label in seg_text
    sr_text = result["steps"]["sr"]["text"]
    shown = _shown_values(sr_text, study.measurement_name, study.measurement_unit)
    assert pytest.approx(study.measurement_value, abs=0.01) in shown, (
        f"{study.measurement_name}: {study.measurement_value} not shown:\n{sr_text}")
    assert [Path(p).name for p in result["screenshots"]] == [
        "1-study.png", "2-seg.png", "3-sr.png"]
    assert all(Path(p).stat().st_size > 10_000 for p in result["screenshots"])
