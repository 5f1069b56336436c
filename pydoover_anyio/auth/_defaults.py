"""Default endpoints of the Doover cloud (spec §1.1) and of the profile file (§2.3)."""

from __future__ import annotations

from typing import Final

#: The data REST API every data request goes to, unless told otherwise.
DEFAULT_DATA_BASE_URL: Final = "https://data.doover.com/api"
#: The control API (only auth cares about it: profile ``BASE_URL``).
DEFAULT_CONTROL_BASE_URL: Final = "https://api.doover.com"
#: The auth server that serves the refresh-token flow.
DEFAULT_AUTH_SERVER_URL: Final = "https://auth.doover.com"
#: Where profiles live; ``~`` is expanded when a profile file is opened.
DEFAULT_CONFIG_PATH: Final = "~/.doover/config"
