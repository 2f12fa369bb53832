"""`platform.env`: where `chargeplane up` tells other programs how to reach the platform
(`DATABASE_URL`, `REDIS_URL`, `OCPP_URL`, ...), one `KEY=value` a line in its data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Final

PLATFORM_ENV_NAME: Final = "platform.env"


def read_platform_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
