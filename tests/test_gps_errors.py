"""Exception tree of gps_tracker.client.exceptions: classes, registry, messages, attributes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from gps_tracker.client.datatypes import TrackerStatus
from gps_tracker.client.exceptions import (
    ApiConnectionError,
    FailedQuery,
    ForbiddenQuery,
    GpsTrackerException,
    HttpException,
    NoContentQuery,
    UnauthorizedQuery,
    UnknownAnswerScheme,
    UnknownDeviceType,
)

ISSUES = "https://gitlab.com/ezlo.picori/gps_tracker/-/issues"
HTTP_CLASSES = [HttpException, UnauthorizedQuery, ForbiddenQuery, NoContentQuery, FailedQuery]


def test_tree() -> None:
    for cls in (UnknownDeviceType, UnknownAnswerScheme, ApiConnectionError, HttpException):
        assert issubclass(cls, GpsTrackerException)
    for cls in HTTP_CLASSES[1:]:
        assert issubclass(cls, HttpException)
    assert issubclass(GpsTrackerException, Exception)


def test_registry() -> None:
    assert HttpException.get(204) is NoContentQuery
    assert HttpException.get(401) is UnauthorizedQuery
    assert HttpException.get(403) is ForbiddenQuery
    for code in (200, 404, 429, 500):
        assert HttpException.get(code) is None
    assert HttpException.get_default() is FailedQuery
    assert UnauthorizedQuery.get(403) is ForbiddenQuery


def test_registering_a_code_twice_raises_value_error() -> None:
    with pytest.raises(ValueError, match="401"):

        class Again(HttpException, code=401):
            pass

    assert HttpException.get(401) is UnauthorizedQuery


def test_a_subclass_may_override_the_message_hook_as_in_0_9_2() -> None:
    class Teapot(HttpException):
        def _message(self) -> str | None:
            return f"teapot: {self.json_answer}"

    assert str(Teapot(json_answer={"x": 1})) == "teapot: {'x': 1}"
    assert str(Teapot("given")) == "given"


def test_subclasses_without_a_code_are_allowed() -> None:
    class Custom(FailedQuery):
        pass

    assert str(Custom()) == "Query failed with unexpected exception."
    assert Custom().status is None
    assert HttpException.get_default() is FailedQuery


@pytest.mark.parametrize(
    ("cls", "message", "status"),
    [
        (HttpException, "None", None),
        (UnauthorizedQuery, "None", 401),
        (ForbiddenQuery, "You are not allowed to perform the attempted query.", 403),
        (NoContentQuery, "No content is associated to this query.", 204),
        (FailedQuery, "Query failed with unexpected exception.", None),
    ],
)
def test_no_argument_construction(
    cls: type[HttpException], message: str, status: int | None
) -> None:
    exc = cls()
    assert str(exc) == message
    assert exc.json_answer is None
    assert exc.status == status
    assert exc.request is None
    assert not getattr(exc, "__notes__", [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detail": "Invalid username/password."}, "Invalid username/password."),
        ({"detail": 5}, "None"),
        ({"other": "x"}, "None"),
        (["detail"], "None"),
        (None, "None"),
    ],
)
def test_unauthorized_message_comes_from_detail(body: Any, message: str) -> None:
    exc = UnauthorizedQuery(json_answer=body)
    assert str(exc) == message
    assert exc.json_answer == body


def test_forbidden_ignores_detail() -> None:
    body = {"detail": "You do not have permission to perform this action."}
    exc = ForbiddenQuery(None, body)
    assert str(exc) == "You are not allowed to perform the attempted query."
    assert exc.json_answer == body


@pytest.mark.parametrize("cls", HTTP_CLASSES)
def test_explicit_message_overrides(cls: type[HttpException]) -> None:
    exc = cls("custom", {"detail": "ignored"})
    assert str(exc) == "custom"
    assert exc.json_answer == {"detail": "ignored"}


def test_status_and_request_go_to_attributes_and_notes_not_the_message() -> None:
    exc = FailedQuery(json_answer=None, status=503, request="GET https://labs.invoxia.io/users/")
    assert str(exc) == "Query failed with unexpected exception."
    assert exc.status == 503
    assert exc.request == "GET https://labs.invoxia.io/users/"
    assert exc.__notes__ == ["request: GET https://labs.invoxia.io/users/, status: 503"]
    detail = {"detail": "Invalid username/password."}
    unauthorized = UnauthorizedQuery(json_answer=detail, status=401, request="GET /users/")
    assert str(unauthorized) == "Invalid username/password."


def test_api_connection_error() -> None:
    exc = ApiConnectionError()
    assert str(exc) == ""
    assert exc.request is None
    with_request = ApiConnectionError(request="GET https://labs.invoxia.io/test/")
    assert str(with_request) == ""
    assert with_request.__notes__ == ["request: GET https://labs.invoxia.io/test/"]

    def refuse() -> None:
        raise OSError("refused")

    def fail() -> None:
        try:
            refuse()
        except OSError as cause:
            raise ApiConnectionError() from cause

    with pytest.raises(ApiConnectionError) as info:
        fail()
    assert isinstance(info.value.__cause__, OSError)


def test_unknown_device_type_message() -> None:
    data = {"id": 42, "type": "tracker_zz", "name": "Rex"}
    exc = UnknownDeviceType(data)
    assert exc.device_data is data
    text = str(exc)
    assert "'tracker_zz'" in text
    assert '\n  "id": 42,\n  "type": "tracker_zz",\n' in text  # pretty-printed JSON
    assert ISSUES in text
    assert "personal data" in text
    assert text.count("\n") >= 4


def test_unknown_answer_scheme_message_and_attributes() -> None:
    data = {"battery": None}
    exc = UnknownAnswerScheme(
        data, "Expected `int | str`, got `null` - at `$.battery`", TrackerStatus
    )
    assert exc.json_data is data
    assert exc.message == "Expected `int | str`, got `null` - at `$.battery`"
    assert exc.cls is TrackerStatus
    text = str(exc)
    assert "'TrackerStatus'" in text
    assert exc.message in text
    assert '{\n  "battery": null\n}' in text
    assert ISSUES in text
    assert "personal data" in text


def test_messages_survive_data_json_cannot_hold() -> None:
    exc = UnknownAnswerScheme({1: object(), "a": 2}, "boom", TrackerStatus)
    assert "boom" in str(exc)
    assert "object object" in str(UnknownDeviceType({"type": "x", "v": object()}))


def test_import_reads_no_package_metadata() -> None:
    code = textwrap.dedent(
        """
        import importlib.metadata as metadata

        def refuse(*args, **kwargs):
            raise AssertionError("package metadata read at import time")

        metadata.version = metadata.metadata = metadata.distribution = refuse
        import gps_tracker.client.exceptions
        import gps_tracker.client.datatypes
        import gps_tracker.client._decode
        import gps_tracker.client.config
        import gps_tracker.client.url_provider
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
