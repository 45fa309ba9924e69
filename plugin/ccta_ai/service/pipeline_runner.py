"""Child process that runs one pipeline call for the worker.

The worker starts ``python -m ccta_ai.service.pipeline_runner REQUEST.json`` per job,
so that a timeout can end the analysis (by killing this process), a crash or an
out-of-memory kill in it costs one job and not the worker, and torch's memory is given
back after every job. The request names the pipeline function, the input files, the
output folder and where to write the result::

    {"pipeline": "module:function", "files": [...], "out_dir": "...",
     "config": {...PipelineConfig...}, "result": "...", "parent_pid": 123}

The result is ``{"ok": true, "outputs": [...], "stage_times_s": {...}}`` or
``{"ok": false, "kind": "input" | "unavailable" | "error", "error": "..."}``. The
process exits 0 whenever it wrote a result; it also exits when its worker dies.

Started as ``python -m ccta_ai.service.pipeline_runner --spare module:function``, the
process gets ready before there is a job: it imports the pipeline, calls the module's
``prepare()`` when it has one (:func:`ccta_ai.pipeline.prepare` loads the model), then
reads the request path from its stdin. The worker keeps one such spare, so a job's
analysis starts without the seconds of imports (see ``Workers.PrestartPipeline``).
A spare whose stdin closes without a path exits 0.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccta_ai.errors import CctaAiError
from ccta_ai.service.pipeline_port import AnalysisUnavailableError, PipelineConfig

PipelineFunction = Callable[[list[Path], Path, PipelineConfig], list[Path]]


def load_pipeline(spec: str) -> PipelineFunction:
    """``"package.module:function"`` → the function."""
    module_name, _, attribute = spec.partition(":")
    function = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(function):
        raise CctaAiError(f"pipeline {spec!r}: {module_name} has no function {attribute!r}")
    return function


def _exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """End this process when the worker that started it is gone (killed or crashed)."""
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent_pid:
            os._exit(3)


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """Run the pipeline call described by ``request``; never raises."""
    config = PipelineConfig(**request["config"])
    out_dir = Path(request["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        pipeline = load_pipeline(request["pipeline"])
        outputs = pipeline([Path(f) for f in request["files"]], out_dir, config)
    except AnalysisUnavailableError as error:
        return {"ok": False, "kind": "unavailable", "error": str(error),
                "stage_times_s": config.stage_times_s}
    except CctaAiError as error:
        return {"ok": False, "kind": "input", "error": f"{type(error).__name__}: {error}",
                "stage_times_s": config.stage_times_s}
    except Exception as error:
        traceback.print_exc()
        return {"ok": False, "kind": "error",
                "error": f"pipeline error: {type(error).__name__}: {error}",
                "stage_times_s": config.stage_times_s}
    missing = [str(p) for p in outputs if not Path(p).is_file()]
    if missing:
        return {"ok": False, "kind": "error",
                "error": f"pipeline returned files that do not exist: {missing[:3]}"}
    return {"ok": True, "outputs": [str(p) for p in outputs],
            "stage_times_s": config.stage_times_s}


def prepare(spec: str) -> None:
    """Import the pipeline ``spec`` and run its module's ``prepare()`` if it has one.
    A failure is only logged: the job that follows meets it again and reports it."""
    try:
        function = load_pipeline(spec)
        prepare_module = getattr(sys.modules[function.__module__], "prepare", None)
        if callable(prepare_module):
            prepare_module()
    except Exception:
        traceback.print_exc()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spare = len(args) == 2 and args[0] == "--spare"
    if len(args) != 1 and not spare:
        print("usage: python -m ccta_ai.service.pipeline_runner REQUEST.json\n"
              "       python -m ccta_ai.service.pipeline_runner --spare module:function",
              file=sys.stderr)
        return 2
    if spare:
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
        prepare(args[1])
        request_path = sys.stdin.readline().strip()
        if not request_path:
            return 0
    else:
        request_path = args[0]
    request = json.loads(Path(request_path).read_text("utf-8"))
    if not spare:
        parent_pid = int(request.get("parent_pid") or os.getppid())
        threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    result = run_request(request)
    result_path = Path(request["result"])
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result), "utf-8")
    tmp.replace(result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
