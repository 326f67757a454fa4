"""Playwright in the system Chromium, against pytest-django's live server.

No browser download happens here: Chromium comes from the distribution
(``apt-get install chromium``). Without it these tests skip locally, saying so; CI sets
``REQUIRE_BROWSER=1`` so that a missing browser fails the run instead.
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network and a root user (CI runs as root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


# Package scope: Playwright's sync API runs an event loop in the main thread while it is
# open, and ``async_to_sync`` (the channel layer) refuses to run beside one. Closing it when
# the browser tests end keeps it from leaking into the tests collected after them.
@pytest.fixture(scope="package")
def chromium():
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium`."
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message + " REQUIRE_BROWSER is set, so browser tests may not be skipped.")
        pytest.skip(message)
    # Playwright's sync API runs an event loop; Django refuses ORM calls from async contexts.
    # Only while the browser tests run: subprocesses started by later tests inherit the
    # environment, and `check --deploy` refuses this variable (async.E001).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# Every page of the context reports its Content-Security-Policy violations to the test: the
# init script (run by the browser before any page script, outside the page's policy) forwards
# each `securitypolicyviolation` event through an exposed binding, which survives navigations.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile ? `${event.sourceFile}:${event.lineNumber}` : "",
    sample: event.sample,
    page: document.location.href,
  });
});
"""


class CSPViolations(list):
    """What the browser refused under the site's policy, from events and from the console."""

    def watch(self, context) -> None:
        context.expose_binding("__cspViolation", lambda source, violation: self.append(violation))
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._console)

    def _console(self, message) -> None:
        # Chromium logs each refusal ("Refused to load ... because it violates the following
        # Content Security Policy directive") and each policy it cannot parse.
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.append({"console": message.type, "text": message.text, "page": message.location.get("url")})


@pytest.fixture
def csp_violations():
    """The CSP violations of the test's pages; the test fails if any remain at its end."""
    violations = CSPViolations()
    yield violations
    if violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(map(str, violations)), pytrace=False)


@pytest.fixture
def page(chromium, live_server, csp_violations):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    csp_violations.watch(context)
    page = context.new_page()
    yield page
    context.close()
