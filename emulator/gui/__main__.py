"""`chargeplane-emulator-gui`: play one OCPP 1.6J charging station by hand in a window."""

from __future__ import annotations

import argparse
import os
import sys
import tkinter as tk
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from chargeplane.common.platformenv import PLATFORM_ENV_NAME, read_platform_env

from ..station import DEFAULT_CSMS_URL
from .viewmodel import ConnectionSettings, StationSetup, StationViewModel
from .window import StationWindow

# Where `chargeplane up` writes it when run from the project folder.
DEFAULT_PLATFORM_ENV: Final = Path(".data") / PLATFORM_ENV_NAME


def default_csms_url(platform_env: Path) -> str:
    """$OCPP_URL, else the OCPP_URL that `chargeplane up` wrote to platform.env, else the
    address `chargeplane up` uses on this machine."""
    if url := os.environ.get("OCPP_URL"):
        return url
    if platform_env.is_file():
        return read_platform_env(platform_env).get("OCPP_URL", DEFAULT_CSMS_URL)
    return DEFAULT_CSMS_URL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chargeplane-emulator-gui",
        description="Play an OCPP 1.6J charging station by hand: plug in, start, charge, watch every frame.",
    )
    connection, setup = ConnectionSettings(), StationSetup()
    add = parser.add_argument
    add("--platform-env", type=Path, default=DEFAULT_PLATFORM_ENV, help="platform.env to read OCPP_URL from")
    add("--url", default=None, help=f"CSMS base URL (default: $OCPP_URL, platform.env, else {DEFAULT_CSMS_URL})")
    add("--station-id", default=connection.station_id, help="station id (default: %(default)s)")
    add("--password", default="", help="HTTP Basic auth password; the user name is the station id")
    add("--vendor", default=connection.vendor, help="chargePointVendor (default: %(default)s)")
    add("--model", default=connection.model, help="chargePointModel (default: %(default)s)")
    add("--connectors", type=int, choices=range(1, 5), default=1, help="connectors (default: %(default)s)")
    add("--power-kw", type=float, default=setup.power_kw, help="initial power (default: %(default)s)")
    add(
        "--meter-interval",
        type=float,
        default=setup.meter_interval,
        help="seconds between MeterValues while charging (default: %(default)s)",
    )
    return parser


def open_window(root: tk.Tk, args: argparse.Namespace) -> StationWindow:
    """The window and its view model, as the command line asks for them."""
    settings = ConnectionSettings(
        csms_url=args.url or default_csms_url(args.platform_env),
        station_id=args.station_id,
        password=args.password,
        vendor=args.vendor,
        model=args.model,
    )
    setup = StationSetup(connectors=args.connectors, power_kw=args.power_kw, meter_interval=args.meter_interval)
    return StationWindow(root, StationViewModel(settings, setup))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = tk.Tk(className="chargeplane-emulator")
    except tk.TclError as exc:
        print(f"chargeplane-emulator-gui needs a display: {exc}", file=sys.stderr)
        return 2
    open_window(root, args)
    root.mainloop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
