from __future__ import annotations

from aiohttp import web

from .readings import ReadingWaits
from .repository import BillingRepository

REPOSITORY = web.AppKey("billing_repository", BillingRepository)
READING_WAITS = web.AppKey("reading_waits", ReadingWaits)
