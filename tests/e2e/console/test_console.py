"""The operator console as a person uses it, in headless Chromium against `chargeplane up` and
emulated stations: signing in, a station going Online and Charging live, a Remote stop ending
the session and its bill appearing, a `read` user who cannot act, a wrong password and a
lockout, CSRF refused, no serious accessibility violations, and a phone-width screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import FLEET, PASSWORD, Console, sign_in, stop, wait_until

pytestmark = pytest.mark.e2e

MAIN_PAGES = ["/stations", f"/stations/{FLEET[0]}", "/sessions", "/bills", "/tariffs", "/tariffs/default", "/id-tags",
              "/firmware-campaigns"]


def test_signing_in_with_a_wrong_password_then_the_right_one(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "operator", "not-the-password", signed_in=False)
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("Password")).to_be_focused()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stations")
    expect(page.locator("#who")).to_contain_text("operator")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/stations")  # the session is gone: back to signing in
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to ChargePlane")
    assert page.errors == []


def test_five_wrong_passwords_lock_the_user(new_page: Any, console: Console) -> None:
    console.platform.cli("user", "add", "careless", "--role", "read", "--password", PASSWORD)
    page = new_page()
    page.goto("/sign-in")
    for _ in range(5):
        page.get_by_label("User name").fill("careless")
        page.get_by_label("Password").fill("guess-guess-guess")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    expect(page.get_by_role("alert")).to_contain_text("locked until")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many wrong passwords: this user is locked until")
    assert "careless" in console.platform.cli("user", "list")
    console.platform.cli("user", "delete", "careless")
    assert "careless" not in console.platform.cli("user", "list")


def test_a_station_goes_online_and_charging_without_a_reload(new_page: Any, console: Console) -> None:
    console.platform.cli("station", "add", "LIVE-1")
    page = new_page()
    sign_in(page, "operator", path="/stations?q=LIVE")
    row = page.locator("tr[data-station='LIVE-1']")
    expect(row).to_contain_text("Offline")
    expect(page.locator(".live")).to_have_text("Live")
    page.evaluate("window.stillTheSamePage = true")
    station = console.station("LIVE-1", "--sessions", "1", "--session-seconds", "600", "--forever")
    try:
        expect(row.locator(".badge.online")).to_have_text("Online", timeout=20_000)
        expect(row.locator(".badge.charging")).to_have_text("Charging", timeout=20_000)
        assert page.evaluate("window.stillTheSamePage") is True  # no reload happened
        expect(page.get_by_role("button", name=re.compile("with a connector Charging"))).to_be_visible()
    finally:
        stop(station)
    expect(row).to_contain_text("Offline", timeout=20_000)


def test_remote_stop_ends_the_session_and_its_bill_appears(new_page: Any, console: Console) -> None:
    console.platform.cli("station", "add", "STOP-1")
    station = console.station("STOP-1", "--sessions", "1", "--session-seconds", "600", "--forever")
    try:
        page = new_page()
        sign_in(page, "operator", path="/stations/STOP-1")
        active = page.locator("#active")
        expect(active.get_by_role("link", name=re.compile(r"Session \d+"))).to_be_visible(timeout=20_000)
        session_link = active.get_by_role("link", name=re.compile(r"Session \d+")).first.get_attribute("href")
        stop_form = page.get_by_role("form", name="Remote stop")
        expect(stop_form.get_by_label("Session")).to_contain_text("Session")
        stop_form.get_by_role("button", name="Remote stop").click()
        expect(stop_form.get_by_role("status")).to_have_text("The station answered: Accepted.")
        expect(active).to_contain_text("No session is charging here now.", timeout=20_000)
        page.get_by_role("link", name="Stations", exact=True).first.click()
        page.goto(session_link)
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Session \d+"))
        expect(page.locator("main")).to_contain_text("Completed")
        bill = page.locator("#bill")
        expect(bill.locator(".total")).to_contain_text("EUR", timeout=20_000)
        expect(bill.get_by_role("region", name=re.compile("Line items"))).to_contain_text("Session fee")
    finally:
        stop(station)


def test_a_read_user_sees_but_cannot_act(new_page: Any, console: Console) -> None:
    page = new_page()
    sign_in(page, "viewer", path=f"/stations/{FLEET[0]}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Station {FLEET[0]}")
    expect(page.get_by_role("note")).to_contain_text("Your role is read")
    for action in ("Remote start", "Remote stop", "Reset", "Unlock connector", "Change availability",
                   "Trigger message", "Change configuration"):
        expect(page.get_by_role("button", name=action, exact=True)).to_be_disabled()
    page.get_by_role("link", name="Id tags").click()
    expect(page.get_by_role("button", name="Save id tag")).to_be_disabled()
    # and the API refuses anyway, with the session's own CSRF token
    session = page.request.get("/api/v1/auth/session").json()
    refused = page.request.post(f"/api/v1/stations/{FLEET[0]}/commands/Reset", data={"type": "Soft"},
                                headers={"X-CSRF-Token": session["csrf_token"]})
    assert refused.status == 403
    assert "'read' role" in refused.json()["error"]["message"]


def test_a_change_without_the_csrf_token_is_refused(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "operator")
    expect(page.get_by_role("heading", level=1)).to_have_text("Stations")
    forged = page.request.put("/api/v1/id-tags/FORGED", data={"status": "Blocked"})
    assert (forged.status, forged.json()["error"]["code"]) == (403, "csrf_refused")
    cross_site = page.request.put("/api/v1/id-tags/FORGED", data={"status": "Blocked"},
                                  headers={"Origin": "https://elsewhere.example"})
    assert cross_site.status == 403
    # the console's own form carries the token
    page.get_by_role("link", name="Id tags").click()
    page.get_by_label("Id tag", exact=True).fill("CONSOLE-TAG")
    page.get_by_role("button", name="Save id tag").click()
    saved = page.get_by_role("form", name="Add an id tag").get_by_role("status")
    expect(saved).to_have_text("Id tag CONSOLE-TAG saved.")
    expect(page.locator("tr[data-tag='CONSOLE-TAG']")).to_contain_text("Accepted")
    page.locator("tr[data-tag='CONSOLE-TAG']").get_by_role("button", name="Block CONSOLE-TAG").click()
    expect(page.locator("tr[data-tag='CONSOLE-TAG']")).to_contain_text("Blocked")


def test_main_pages_have_no_serious_accessibility_violations(new_page: Any, console: Console,
                                                             axe_source: Path) -> None:
    page = new_page(bypass_csp=True)  # axe is injected as a script of the test's, which the CSP would refuse
    sign_in(page, "operator")
    expect(page.get_by_role("heading", level=1)).to_have_text("Stations")
    session_id = wait_until(lambda: next((s["id"] for s in console.api("/sessions?status=completed",
                                                                      console.token())["items"]), None),
                            60, "a completed session")
    found = {}
    for path in [*MAIN_PAGES, f"/sessions/{session_id}", "/sign-in"]:
        if path == "/sign-in":
            page.get_by_role("button", name="Sign out").click()
        else:
            page.goto(path)
            expect(page.locator("#who")).to_contain_text("operator")
        expect(page.locator("main h1")).to_be_visible()
        page.wait_for_timeout(500)  # parts that load after the heading
        page.add_script_tag(path=str(axe_source))
        violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
            .violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')})`)""")
        if violations:
            found[path] = violations
    assert found == {}


def test_the_console_fits_a_phone_screen(new_page: Any) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, "operator")
    for path, heading in [("/stations", "Stations"), (f"/stations/{FLEET[0]}", f"Station {FLEET[0]}"),
                          ("/sessions", "Sessions"), ("/id-tags", "Id tags")]:
        page.goto(path)
        expect(page.locator("main h1")).to_have_text(heading)
        # wide tables scroll inside their own region; the page itself never scrolls sideways
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    page.keyboard.press("Tab")  # the first stop is the skip link
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_screenshots_of_the_stations_page_and_a_session(new_page: Any, console: Console, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    """What docs/ shows (`make screenshots` saves them there)."""
    folder = request.config.getoption("--console-screenshots") or tmp_path
    token = console.token()
    wait_until(lambda: console.api("/station-counts", token)["connector_statuses"]["Charging"] >= 3, 90,
               "three stations charging")
    session_id = wait_until(lambda: next((s["id"] for s in console.api("/sessions?status=completed", token)["items"]
                                          if len(console.api(f"/sessions/{s['id']}", token)["meter_series"]) >= 8),
                                         None), 90, "a completed session with a meter series")
    page = new_page()
    sign_in(page, "operator")
    expect(page.locator(".live")).to_have_text("Live")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(folder / "console-stations.png"))
    page.goto(f"/sessions/{session_id}")
    expect(page.locator(".chart canvas")).to_be_visible()
    expect(page.locator("#bill .total")).to_be_visible()
    page.screenshot(path=str(folder / "console-session.png"), full_page=True)
    assert (folder / "console-stations.png").stat().st_size > 10_000
