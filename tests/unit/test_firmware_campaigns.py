"""What a firmware campaign sends, and the status a station's answer gives its target."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargeplane.emulator.firmware import image_version
from chargeplane.services.ocpp.core.commands import CommandOutcome
from chargeplane.services.ocpp.core.schemas import validate
from chargeplane.services.ocpp.features.firmware.campaigns import status_after, update_request

CAMPAIGN = {"campaign_id": 42, "location": "https://fw.example.com/v2.bin",
            "retrieve_date": datetime(2026, 12, 1, 2, 0, tzinfo=UTC), "install_date": None, "retries": 3,
            "retry_interval": None, "signing_certificate": None, "signature": None}


def test_a_plain_campaign_sends_update_firmware() -> None:
    action, payload = update_request(CAMPAIGN)  # type: ignore[arg-type]
    assert (action, payload) == ("UpdateFirmware", {"location": "https://fw.example.com/v2.bin",
                                                    "retrieveDate": "2026-12-01T02:00:00.000Z", "retries": 3})
    validate(action, payload)


def test_a_signed_campaign_sends_signed_update_firmware_with_its_id() -> None:
    signed = {**CAMPAIGN, "signing_certificate": "PEM", "signature": "c2ln",
              "install_date": datetime(2026, 12, 1, 3, 0, tzinfo=UTC)}
    action, payload = update_request(signed)  # type: ignore[arg-type]
    assert action == "SignedUpdateFirmware"
    assert payload == {"requestId": 42, "retries": 3, "firmware": {
        "location": "https://fw.example.com/v2.bin", "retrieveDateTime": "2026-12-01T02:00:00.000Z",
        "installDateTime": "2026-12-01T03:00:00.000Z", "signingCertificate": "PEM", "signature": "c2ln"}}
    validate(action, payload)


@pytest.mark.parametrize(("outcome", "status"), [
    (CommandOutcome("result", {}), "Accepted"),
    (CommandOutcome("result", {"status": "Accepted"}), "Accepted"),
    (CommandOutcome("result", {"status": "AcceptedCanceled"}), "Accepted"),
    (CommandOutcome("result", {"status": "InvalidCertificate"}), "InvalidCertificate"),
    (CommandOutcome("error", {"errorCode": "NotSupported"}), "Error"),
    (CommandOutcome("timeout", {}), "Pending"),
    (CommandOutcome("offline", {}), "Pending"),
])
def test_the_answer_sets_the_target_status(outcome: CommandOutcome, status: str) -> None:
    assert status_after(outcome) == status


@pytest.mark.parametrize(("image", "version"), [
    (b"CHARGEPLANE-FIRMWARE 2.0.0\n\x00\x01", "2.0.0"),
    (b"CHARGEPLANE-FIRMWARE  3.1-rc1  \r\n", "3.1-rc1"),
    (b"CHARGEPLANE-FIRMWARE \n", None),
    (b"\x7fELF...", None),
])
def test_an_emulator_image_carries_its_version(image: bytes, version: str | None) -> None:
    assert image_version(image) == version
