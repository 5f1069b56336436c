"""Drop-in check: every public member of pydoover's data clients exists here with the same
parameter names, order, kinds and defaults (annotations are free to differ)."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import pydoover.api
import pytest
from pydoover.api.data._base import UNSET as PYDOOVER_UNSET
from pydoover.api.data._base import BaseClient

from pydoover_anyio._wire import UNSET
from pydoover_anyio.client import AsyncDataClient
from pydoover_anyio.sync import DataClient

PAIRS = [
    pytest.param(pydoover.api.AsyncDataClient, AsyncDataClient, id="async"),
    pytest.param(pydoover.api.DataClient, DataClient, id="sync"),
]


#: Class members ours have beyond pydoover's: pydoover keeps these settings as plain
#: instance attributes (ours are properties), and the async client adds anyio's
#: ``aclose`` spelling.
CLASS_EXTRAS = {
    "sync": {"agent_id", "auth", "base_url", "organisation_id"}
    | {"compress", "compress_level", "max_retries", "retry_delay", "timeout"},
    "async": {"aclose", "max_retries", "retry_delay", "timeout"},
}
#: Public names our instances have beyond pydoover's instances.
INSTANCE_EXTRAS: dict[str, set[str]] = {"sync": set(), "async": {"aclose"}}
#: The WebSocket gateway (pydoover has none), on both clients' classes and instances.
GATEWAY = {"gateway_settings", "gateway_url", "send_one_shot", "subscribe", "sync_channel"}
#: Attachment downloads that never hold the whole file (pydoover has only ``fetch_*``).
DOWNLOADS = {
    "download_channel_aggregate_attachment",
    "download_message_attachment",
    "stream_channel_aggregate_attachment",
    "stream_message_attachment",
}
#: Bulk ingestion (docs/ingest.md).
INGEST = {"ingest"}
for _kind in ("sync", "async"):
    CLASS_EXTRAS[_kind] |= GATEWAY | DOWNLOADS | INGEST
    INSTANCE_EXTRAS[_kind] |= GATEWAY | DOWNLOADS | INGEST


#: Keyword-only parameters ours add at the end of a pydoover method (callers of pydoover's
#: signature never pass them).
PARAMETER_EXTRAS = {"fetch_timeseries": ("paginate",)}


def public_members(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_"))


def instance_attributes(client: object) -> set[str]:
    """Public names an instance has (class members and instance attributes)."""
    names = set(dir(client)) | set(getattr(client, "__dict__", {}))
    return {name for name in names if not name.startswith("_")}


def shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    """Each parameter's name, kind and default (pydoover's UNSET mapped to ours)."""
    return [
        (
            p.name,
            p.kind,
            UNSET if p.default is PYDOOVER_UNSET else p.default,
        )
        for p in signature.parameters.values()
    ]


@pytest.mark.parametrize(("theirs", "ours"), PAIRS)
def test_every_public_member_exists(theirs: type, ours: type) -> None:
    missing = set(public_members(theirs)) - set(public_members(ours))
    assert not missing


@pytest.mark.parametrize(("theirs", "ours"), PAIRS)
def test_no_public_member_beyond_the_known_extras(theirs: type, ours: type) -> None:
    kind = "sync" if ours is DataClient else "async"
    assert set(public_members(ours)) - set(public_members(theirs)) == CLASS_EXTRAS[kind]


@pytest.mark.parametrize(("theirs", "ours"), PAIRS)
def test_same_public_names_and_settings_on_instances(theirs: type, ours: type) -> None:
    kind = "sync" if ours is DataClient else "async"
    their_client, our_client = theirs(token="t"), ours(token="t")
    try:
        their_names = instance_attributes(their_client)
        our_names = instance_attributes(our_client)
        assert their_names - our_names == set()
        assert our_names - their_names == INSTANCE_EXTRAS[kind]
        settings = (
            set(vars(their_client)) - {"auth"} - {n for n in vars(their_client) if n[0] == "_"}
        )
        assert settings == {
            "agent_id",
            "base_url",
            "compress",
            "compress_level",
            "max_retries",
            "organisation_id",
            "retry_delay",
            "timeout",
        }
        for name in settings:
            assert getattr(our_client, name) == getattr(their_client, name), name
    finally:
        if isinstance(our_client, DataClient):
            our_client.close()
            their_client.close()
        else:
            anyio.run(our_client.close)


@pytest.mark.parametrize(("theirs", "ours"), PAIRS)
def test_methods_have_the_same_parameters(theirs: type, ours: type) -> None:
    # Compared on instances, bound, as callers use them.
    their_client, our_client = theirs(token="t"), ours(token="t")
    differing = {}
    try:
        for name in public_members(theirs):
            if isinstance(inspect.getattr_static(theirs, name), property):
                assert isinstance(inspect.getattr_static(ours, name), property), name
                continue
            expected = shape(inspect.signature(getattr(their_client, name)))
            actual = shape(inspect.signature(getattr(our_client, name)))
            extras = PARAMETER_EXTRAS.get(name, ())
            if extras:
                added = actual[len(actual) - len(extras) :]
                assert [p[0] for p in added] == list(extras), name
                assert all(p[1] is inspect.Parameter.KEYWORD_ONLY for p in added), name
                actual = actual[: len(actual) - len(extras)]
            if actual != expected:
                differing[name] = (expected, actual)
    finally:
        if isinstance(our_client, DataClient):
            our_client.close()
        else:
            anyio.run(our_client.close)
    assert not differing


def test_async_methods_stay_async_and_iterators_stay_plain() -> None:
    for name in public_members(pydoover.api.AsyncDataClient):
        reference = getattr(pydoover.api.AsyncDataClient, name)
        if isinstance(inspect.getattr_static(pydoover.api.AsyncDataClient, name), property):
            continue
        ours = getattr(AsyncDataClient, name)
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(reference), name


def test_sync_methods_are_plain_functions() -> None:
    client = DataClient(token="t")
    try:
        for name in public_members(pydoover.api.DataClient):
            member = getattr(client, name)
            if callable(member):
                assert not inspect.iscoroutinefunction(member), name
    finally:
        client.close()


def test_sync_iter_messages_keeps_pydoovers_sync_parameter_order() -> None:
    sync_order = list(inspect.signature(DataClient.iter_messages).parameters)
    async_order = list(inspect.signature(AsyncDataClient.iter_messages).parameters)
    assert sync_order[-2:] == ["page_size", "organisation_id"]
    assert async_order[-2:] == ["organisation_id", "page_size"]


def pydoover_constructor() -> list[tuple[str, Any, Any]]:
    """What pydoover's ``(base_url=None, **kwargs)`` really accepts, in order."""
    from pydoover.api.data._base import _AUTH_KWARGS

    base = inspect.signature(BaseClient.__init__).parameters
    settings = [
        (p.name, inspect.Parameter.KEYWORD_ONLY, p.default)
        for p in base.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("auth", "owns_auth")
    ]
    auth = [(name, inspect.Parameter.KEYWORD_ONLY, None) for name in _AUTH_KWARGS]
    return [("base_url", inspect.Parameter.POSITIONAL_OR_KEYWORD, None), *auth, *settings]


@pytest.mark.parametrize("ours", [AsyncDataClient, DataClient])
def test_constructor_takes_what_pydoover_takes(ours: type) -> None:
    actual = shape(inspect.signature(ours.__init__))[1:]  # without self
    # ... plus, at the end, what pydoover has no counterpart for (the gateway, TLS
    # verification settings, the choice of HTTP layer and a caller-owned httpx client,
    # docs/runtime.md).
    extension = [
        ("gateway_url", inspect.Parameter.KEYWORD_ONLY, None),
        ("verify", inspect.Parameter.KEYWORD_ONLY, True),
        ("http", inspect.Parameter.KEYWORD_ONLY, "auto"),
        ("http_client", inspect.Parameter.KEYWORD_ONLY, None),
    ]
    assert actual == pydoover_constructor() + extension
