"""Each package's ``__all__`` lists exactly its public names, and the reference libraries'
names are there: gps-tracker 0.9.2's, and pydoover 1.18.3's data-client names."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

MODULES = [
    "pydoover_anyio",
    "pydoover_anyio.api",
    "pydoover_anyio.auth",
    "pydoover_anyio.errors",
    "pydoover_anyio.ingest",
    "pydoover_anyio.models",
    "pydoover_anyio.snowflake",
    "pydoover_anyio.sync",
    "pydoover_anyio.runtime",
    "gps_tracker",
    "gps_tracker.client",
    "gps_tracker.client.datatypes",
    "gps_tracker.client.exceptions",
    "gps_tracker.client.asynchronous",
    "gps_tracker.client.synchronous",
    "gps_tracker.client.config",
    "gps_tracker.client.url_provider",
]

#: What gps-tracker 0.9.2 exports (spec §5.1); ours must offer at least these.
GPS_TRACKER_092 = {
    "gps_tracker": {
        "__version__",
        "client",
        "AsyncClient",
        "Client",
        "Config",
        "Device",
        "Tracker",
        "TrackerData",
    },
    "gps_tracker.client": {
        "AsyncClient",
        "Client",
        "Config",
        "datatypes",
        "Device",
        "exceptions",
        "Tracker",
        "TrackerData",
    },
    "gps_tracker.client.datatypes": {
        "form",
        "User",
        "Device",
        "Android",
        "Iphone",
        "Tracker",
        "Tracker01",
        "Tracker03",
        "Tracker04",
        "TrackerConfig",
        "TrackerStatus",
        "TrackerData",
        "TrackerIcon",
        "TrackerMode",
        "TrackerUsage",
        "TrackerMethod",
    },
    "gps_tracker.client.exceptions": {
        "GpsTrackerException",
        "UnknownDeviceType",
        "UnknownAnswerScheme",
        "ApiConnectionError",
        "HttpException",
        "UnauthorizedQuery",
        "ForbiddenQuery",
        "NoContentQuery",
        "FailedQuery",
    },
}


#: pydoover.models.data names that are gateway events: the gateway package's business
#: (pydoover_anyio.gateway has its own event types).
GATEWAY_EVENTS = {
    "AggregateUpdateEvent",
    "AlarmTriggerEvent",
    "ChannelSyncEvent",
    "DeploymentEvent",
    "EventSubscription",
    "IngestionEndpointEvent",
    "ManualInvokeEvent",
    "MessageCreateEvent",
    "MessageUpdateEvent",
    "OneShotMessage",
    "ScheduleEvent",
    "WireFormat",
}
#: pydoover.models.data names of the on-device agent's gRPC interface (its
#: ``list_channels`` answer, built from protobuf): not a Data API model.
DEVICE_AGENT = {"ChannelList", "ChannelListing"}
NOT_DATA_CLIENT_MODELS = GATEWAY_EVENTS | DEVICE_AGENT

#: pydoover.api names that belong to the control API, which this package does not cover.
CONTROL_API = {
    "AsyncControlClient",
    "ControlClient",
    "ControlMethodUnavailableError",
    "ControlResourceMethods",
}


def defined_names(module: ModuleType) -> set[str]:
    """Public classes and functions a module defines itself."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }


def package_names(module: ModuleType) -> set[str]:
    """Everything public a package's ``__init__`` holds, submodules excepted."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and name != "annotations" and not isinstance(value, ModuleType)
    }


@pytest.mark.parametrize("name", MODULES)
def test_all_matches_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__), "duplicates in __all__"
    for attribute in exported:
        assert hasattr(module, attribute), attribute
    if hasattr(module, "__path__"):  # a package: __all__ is exactly what it offers
        modules = {n for n in exported if isinstance(getattr(module, n), ModuleType)}
        assert exported - modules - {"__version__"} == package_names(module) - {"__version__"}
    else:  # a module: everything it defines publicly is exported
        assert defined_names(module) <= exported


@pytest.mark.parametrize(("name", "expected"), GPS_TRACKER_092.items())
def test_gps_tracker_092_names_are_all_there(name: str, expected: set[str]) -> None:
    module = importlib.import_module(name)
    assert expected <= set(module.__all__)


def test_submodules_are_reachable_as_attributes_after_a_plain_import() -> None:
    import gps_tracker

    assert gps_tracker.client.exceptions.UnauthorizedQuery.code == 401
    assert gps_tracker.client.datatypes.Tracker01 is not None


def test_pydoover_api_is_mirrored_name_for_name() -> None:
    import pydoover.api

    import pydoover_anyio.api

    assert set(pydoover_anyio.api.__all__) == set(pydoover.api.__all__) - CONTROL_API
    for name in pydoover_anyio.api.__all__:
        assert getattr(pydoover_anyio.api, name) is getattr(pydoover_anyio, name), name


def test_every_pydoover_data_name_is_importable_from_the_package() -> None:
    import pydoover.api
    import pydoover.api.data
    import pydoover.models.data
    import pydoover.utils

    import pydoover_anyio
    import pydoover_anyio.models

    errors = {n for n in pydoover.models.data.__all__ if n.endswith("Error")}
    models = set(pydoover.models.data.__all__) - NOT_DATA_CLIENT_MODELS - errors
    assert models <= set(pydoover_anyio.models.__all__)
    expected = (
        models
        | errors
        | (set(pydoover.api.__all__) - CONTROL_API)
        | {n for n in dir(pydoover.api.data) if n.endswith("Iterator")}
        | {n for n in dir(pydoover.utils) if "snowflake_" in n}
    )
    assert expected <= set(pydoover_anyio.__all__)
    for name in models:
        assert getattr(pydoover_anyio, name) is getattr(pydoover_anyio.models, name), name


def test_pydoover_models_names_are_all_there() -> None:
    import pydoover.models

    import pydoover_anyio.models

    errors = {n for n in pydoover.models.__all__ if n.endswith("Error")}
    expected = set(pydoover.models.__all__) - GATEWAY_EVENTS - errors
    assert expected <= set(pydoover_anyio.models.__all__)
    assert not DEVICE_AGENT & set(pydoover.models.__all__)  # pydoover leaves them out too


def test_the_package_exports_one_object_under_each_name() -> None:
    import pydoover_anyio
    from pydoover_anyio import errors, models, snowflake

    for module in (errors, models, snowflake):
        for name in set(module.__all__) & set(pydoover_anyio.__all__):
            assert getattr(pydoover_anyio, name) is getattr(module, name), name
