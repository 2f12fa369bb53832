"""Security (OCPP 1.6 Security Whitepaper, edition 3): the platform CA signing stations' CSRs
(SignCertificate, CertificateSigned), the certificates each station holds (InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate), its security events, and the AuthorizationKey
that becomes its password. The security profiles themselves are the core's (`core/tls.py`)."""

from __future__ import annotations

from chargeplane.services.ocpp.core.feature import Feature

from . import station_security, views
from .handlers import security_event_notification, sign_certificate

FEATURE = Feature(
    name="security",
    handlers={"SignCertificate": sign_certificate.handle,
              "SecurityEventNotification": security_event_notification.handle},
    views=views.routes,
    recorders=dict.fromkeys(station_security.RECORDED_ACTIONS, station_security.record_reply),
    checks=dict.fromkeys(station_security.CHECKED_ACTIONS, station_security.check_command),
    contexts=(station_security.security_context,),
)
