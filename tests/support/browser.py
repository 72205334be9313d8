"""Pages in real headless Chromium (Debian's package, driven by Playwright): an agent's helpdesk tab with the widget,
screenshots to test-artifacts/screenshots/."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.support.processes import ARTIFACTS, ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE = ROOT / "callercard" / "widget" / "node_modules" / "axe-core" / "axe.min.js"  # a devDependency of the widget


async def accessibility_problems(page: Page, selector: str) -> list[dict]:
    """Serious and critical axe-core findings inside ``selector`` (shadow roots included)."""
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate("""async (selector) => (await axe.run(selector)).violations
        .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.html)}))""", selector)
    return [problem for problem in found if problem["impact"] in ("serious", "critical")]


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


class Desk:
    """One agent's helpdesk tab with the widget in it."""

    def __init__(self, page: Page, agent_id: str, test: str) -> None:
        self.page, self.agent_id, self.test = page, agent_id, test
        self.widget = page.locator("#callercard-widget")
        self.popups = self.widget.locator(".popup")
        self.card = self.widget.locator(".card")
        self.bottom = self.widget.locator(".bottom")
        self.notice = self.widget.locator(".notice")
        self.line_counts = self.widget.locator(".count")
        self.missed = self.widget.locator(".missed")

    async def ready(self) -> Desk:
        await expect(self.page.locator("#callercard-widget[data-ready=true]")).to_have_count(1, timeout=15_000)
        return self

    async def accessibility_problems(self) -> list[dict]:
        return await accessibility_problems(self.page, "#callercard-widget")

    async def screenshot(self, step: str) -> None:
        await screenshot(self.page, f"{self.test}-{self.agent_id}-{step}")
