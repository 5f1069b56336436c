"""Endpoint URLs of the Invoxia API (``gps_tracker`` 0.9.2 ``UrlProvider``).

Every URL is ``api_url + "/" + path`` where the path ends in ``/``; query strings are built
by hand from ints and device-kind literals, so nothing needs escaping.
"""

from __future__ import annotations

from gps_tracker.client import datatypes

__all__ = ["UrlProvider"]


class UrlProvider:
    """Build the full URL of each endpoint.

    Args:
        api_url: Base URL, used as given (``Config`` has already normalised it).

    Attributes:
        api_url: The base URL.
    """

    def __init__(self, api_url: str = "https://labs.invoxia.io") -> None:
        self.api_url = api_url

    def users(self) -> str:
        """Return the URL of ``GET /users/``."""
        return f"{self.api_url}/users/"

    def user(self, user_id: int) -> str:
        """Return the URL of ``GET /users/{user_id}/``.

        Args:
            user_id: The user id (inserted with ``str()``).
        """
        return f"{self.api_url}/users/{user_id}/"

    def devices(self, kind: str | None = None) -> str:
        """Return the URL of ``GET /devices/``, filtered by kind when one is given.

        Args:
            kind: One of ``Device.get_types()`` (``"tracker"`` selects every tracker).

        Raises:
            KeyError: ``kind`` is not a known device kind.
        """
        if kind is None:
            return f"{self.api_url}/devices/"
        if kind not in datatypes.Device.get_types():
            raise KeyError(f"Device of kind '{kind}' are undefined.")
        return f"{self.api_url}/devices/?type={kind}"

    def device(self, device_id: int) -> str:
        """Return the URL of ``GET /devices/{device_id}/``.

        Args:
            device_id: The device id.
        """
        return f"{self.api_url}/devices/{device_id}/"

    def locations(
        self, device_id: int, not_before: int | None = None, not_after: int | None = None
    ) -> str:
        """Return the URL of one page of ``GET /devices/{device_id}/tracker_data/``.

        Args:
            device_id: The tracker id.
            not_before: Lower bound in Unix seconds (``timestamp``), if any.
            not_after: Upper bound in Unix seconds (``timestamp_max``), if any.
        """
        query = []
        if not_before is not None:
            query.append(f"timestamp={not_before}")
        if not_after is not None:
            query.append(f"timestamp_max={not_after}")
        url = f"{self.api_url}/devices/{device_id}/tracker_data/"
        return f"{url}?{'&'.join(query)}" if query else url

    def tracker_status(self, device_id: int) -> str:
        """Return the URL of ``GET /devices/{device_id}/tracker_status/``.

        Args:
            device_id: The tracker id.
        """
        return f"{self.api_url}/devices/{device_id}/tracker_status/"

    def tracker_config(self, device_id: int) -> str:
        """Return the URL of ``GET /devices/{device_id}/tracker_config/``.

        Args:
            device_id: The tracker id.
        """
        return f"{self.api_url}/devices/{device_id}/tracker_config/"
