"""The benchmark's own bookkeeping: how popups are matched to the rings the load PBX wrote."""

from __future__ import annotations

from bench.common import summary_ms
from bench.loadpbx import CallPlan
from bench.popup import TimedPage, analyse
from bench.scale import rate_curve

DEVICES = {"Local/201g0@agents": "anna-g0", "Local/202g0@agents": "boris-g0"}


def _page(agent: str, *arrivals: tuple[float, dict]) -> TimedPage:
    page = TimedPage(agent_id=agent, token="t", websocket_url="ws://127.0.0.1:9/none", channel=f"agent:#{agent}")
    page.arrivals.extend(arrivals)
    return page


def _ringing(call_id: str, agent: str, **card: object) -> dict:
    return {"event": "ringing", "call_id": call_id, "agent_id": agent, "card": card or None}


def test_lost_misrouted_and_duplicated_popups_are_counted_and_latency_matched_in_order() -> None:
    call = CallPlan(call_id="c1", capture="x", number="89100000001", holder="Ivan", group=0, entered=0.0,
                    rings={"Local/201g0@agents-01": ("Local/201g0@agents", 1.0),
                           "Local/202g0@agents-02": ("Local/202g0@agents", 1.1),
                           "Local/201g0@agents-03": ("Local/201g0@agents", 5.0)})
    other = CallPlan(call_id="c2", capture="x", number="89100000002", holder="Olga", group=0, entered=0.0,
                     rings={"Local/202g0@agents-04": ("Local/202g0@agents", 2.0)})
    known = {"kind": "known", "display_name": "Ivan"}
    pages = {
        "anna-g0": _page("anna-g0", (1.01, _ringing("c1", "anna-g0", **known)), (5.02, _ringing("c1", "anna-g0")),
                         (6.0, _ringing("c2", "anna-g0"))),  # c2 never rang Anna: misrouted
        "boris-g0": _page("boris-g0", (1.2, _ringing("c1", "boris-g0")), (1.3, _ringing("c1", "boris-g0"))),
    }  # and c2's ring for Boris never arrived: lost
    stats = analyse([call, other], pages, DEVICES, built_at={})
    assert (stats["lost"], stats["misrouted"], stats["duplicated"]) == (1, 1, 1)
    assert [round(x) for x in sorted(stats["_latencies"])] == [10, 20, 100]
    assert stats["cards"]["first_ringing"] == {"resolved": 1, "no card": 1}


def test_summary_uses_nearest_rank_percentiles() -> None:
    result = summary_ms([float(x) for x in range(1, 101)])
    assert (result["p50"], result["p99"], result["max"], result["count"]) == (50, 99, 100, 100)
    assert summary_ms([]) == {"count": 0}


def test_rate_curve_is_rows_per_second_over_the_window() -> None:
    assert rate_curve([(0.0, 0), (1.0, 100), (2.0, 300), (12.0, 1300)], window=10) == [(100, 100.0), (300, 150.0),
                                                                                          (1300, 100.0)]
