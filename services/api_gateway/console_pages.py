"""The operator console: its page and files, served at `/` beside the public API.

Same origin as `/api/v1`, so the session cookie stays SameSite=Strict and no CORS is needed;
the page itself only ever calls `/api/v1`. Every address of the console's pages answers the
same index.html (the page routes in the browser); the scripts, styles and the front-end
packages' files are under `/assets/`. A strict Content-Security-Policy lets the page run its
own scripts only, so a string a station sends can never become code."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from chargeplane.common.logs import get_logger

log = get_logger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
# the first segment of every page's address (js/main.js routes the rest)
PAGES = ("stations", "sessions", "bills", "tariffs", "id-tags", "firmware-campaigns", "sign-in")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
                               " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
                               " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # a new version of the console is picked up at once; files are revalidated, not fetched again
    "Cache-Control": "no-cache",
}


async def index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE_DIR / "index.html")


async def stylesheet(_: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE_DIR / "console.css")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith("/api/"):
        response.headers.update(SECURITY_HEADERS)


def add_routes(app: web.Application) -> None:
    if not (CONSOLE_DIR / "vendor").is_dir():
        log.warning("console assets missing", folder=str(CONSOLE_DIR / "vendor"),
                    fix="python scripts/build_console.py (needs npm), then reinstall")
    app.router.add_get("/", index)
    app.router.add_get(f"/{{page:(?:{'|'.join(PAGES)})}}{{rest:(?:/.*)?}}", index)
    app.router.add_get("/assets/console.css", stylesheet)
    app.router.add_static("/assets/js", CONSOLE_DIR / "js")
    if (CONSOLE_DIR / "vendor").is_dir():
        app.router.add_static("/assets/vendor", CONSOLE_DIR / "vendor")
    app.on_response_prepare.append(_security_headers)
