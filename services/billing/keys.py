from __future__ import annotations

from aiohttp import web

from .repository import BillingRepository

REPOSITORY = web.AppKey("billing_repository", BillingRepository)
