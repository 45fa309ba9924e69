"""A fake of the ``orthanc`` module (python plugin 4.0) for testing the plugin glue
without a server: configuration, callbacks, an in-memory REST API, logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


class ChangeType:
    NEW_INSTANCE = 2
    STABLE_SERIES = 8
    ORTHANC_STARTED = 12
    ORTHANC_STOPPED = 13


class ResourceType:
    SERIES = 2


class FakeOrthanc:
    """Stands in for ``import orthanc``."""

    ChangeType = ChangeType
    ResourceType = ResourceType

    def __init__(self, config: dict[str, Any], config_path: Path,
                 resources: dict[str, Any] | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.resources = resources or {}
        self.change_callback: Callable[..., None] | None = None
        self.rest_callbacks: dict[str, Callable[..., None]] = {}
        self.logs: list[tuple[str, str]] = []

    def GetConfiguration(self) -> str:  # noqa: N802 (the plugin API's names)
        return json.dumps(self.config)

    def GetConfigurationPath(self) -> str:  # noqa: N802
        return str(self.config_path)

    def RegisterOnChangeCallback(self, callback: Callable[..., None]) -> None:  # noqa: N802
        if self.change_callback is not None:
            raise RuntimeError("only one change callback may be registered")
        self.change_callback = callback

    def RegisterRestCallback(self, route: str, callback: Callable[..., None]) -> None:  # noqa: N802
        self.rest_callbacks[route] = callback

    def RestApiGet(self, uri: str) -> bytes:  # noqa: N802
        if uri not in self.resources:
            raise ValueError("Inexistent item")  # what the plugin raises on 404
        return json.dumps(self.resources[uri]).encode()

    def GenerateRestApiAuthorizationToken(self) -> str:  # noqa: N802
        return "Bearer fake-token"

    def LogInfo(self, message: str) -> None:  # noqa: N802
        self.logs.append(("info", message))

    def LogWarning(self, message: str) -> None:  # noqa: N802
        self.logs.append(("warning", message))

    def LogError(self, message: str) -> None:  # noqa: N802
        self.logs.append(("error", message))

    # --- driving it like Orthanc does ------------------------------------------------

    def change(self, change_type: int, resource_id: str = "") -> None:
        assert self.change_callback is not None
        self.change_callback(change_type, ResourceType.SERIES, resource_id)

    def get(self, uri: str, method: str = "GET", query: dict[str, str] | None = None,
            body: bytes = b"") -> FakeOutput:
        """Call the REST callback registered for ``uri`` (the first matching route)."""
        import re

        output = FakeOutput()
        for route, callback in self.rest_callbacks.items():
            match = re.fullmatch(route, uri)
            if match:
                request: dict[str, Any] = {"method": method, "groups": list(match.groups()),
                                           "get": query or {}, "headers": {}}
                if method in ("POST", "PUT"):
                    request["body"] = body
                callback(output, uri, **request)
                return output
        raise AssertionError(f"no REST route for {uri}")


class FakeOutput:
    """Stands in for ``orthanc.RestOutput`` (plugin 4.0 signatures)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.body = b""
        self.content_type = ""
        self.headers: dict[str, str] = {}
        self.allowed = ""

    def AnswerBuffer(self, body: bytes, content_type: str) -> None:  # noqa: N802
        self.status, self.body, self.content_type = 200, bytes(body), content_type

    def SendHttpStatus(self, status: int, body: str, size: int) -> None:  # noqa: N802
        self.status, self.body = status, body.encode()[:size]
        self.content_type = self.headers.get("Content-Type", "")

    def SendMethodNotAllowed(self, allowed: str) -> None:  # noqa: N802
        self.status, self.allowed = 405, allowed

    def SetHttpHeader(self, key: str, value: str) -> None:  # noqa: N802
        self.headers[key] = value

    def json(self) -> Any:
        return json.loads(self.body)
