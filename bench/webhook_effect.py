"""Whether a failing webhook endpoint slows popups (issue 18): the ``bench.popup --webhook`` runs side by side.

    python -m bench.popup --store ferretdb2 --webhook none|failing|hanging --rates 10 --seconds 40 \
        --name i18_webhook_<mode>_<n>      # alternated, several of each
    python -m bench.webhook_effect         # bench/results/i18_webhook.json and .png
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import RESULTS

MODES = ("none", "failing", "hanging")


def runs() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for path in sorted(RESULTS.glob("i18_webhook_*_*.json")):
        result = json.loads(path.read_text())
        phase = result["phases"][0]
        found[result["webhook"]].append({
            "run": path.stem, "store": result["store"]["server"], "rate": phase["rate"], "calls": phase["calls"],
            "ringing_legs": phase["ringing_legs"], "latency_ms": phase["latency_ms"], "floor_ms": phase["floor_ms"],
            "lost": phase["lost"], "misrouted": phase["misrouted"], "duplicated": phase["duplicated"],
            "first_ringing_resolved": phase["cards"]["resolved_share"],
            "webhook_deliveries": phase.get("webhook_deliveries"),
            "listener_cpu_s_per_1000_calls": phase["listener_cpu_s_per_1000_calls"],
            "loadavg": [result["machine_start"]["loadavg"][0], result["machine_end"]["loadavg"][0]],
            "commit": result["machine_start"]["commit"]})
    return found


def plot(found: dict[str, list[dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for x, mode in enumerate(MODES):
        for n, run in enumerate(found[mode]):
            offset = x + (n - (len(found[mode]) - 1) / 2) * 0.12
            ax.scatter([offset], [run["latency_ms"]["p50"]], marker="o", color="tab:blue",
                       label="p50" if x == n == 0 else None)
            ax.scatter([offset], [run["latency_ms"]["p99"]], marker="^", color="tab:red",
                       label="p99" if x == n == 0 else None)
    ax.set_xticks(range(len(MODES)), [f"webhook: {mode}" for mode in MODES])
    ax.set_ylabel("popup latency, ms (PBX ring → agent's page)")
    ax.set_title("Popups with a failing webhook endpoint subscribed to every event (10 calls/s × 40 s, ferretdb2)")
    ax.title.set_fontsize(9)
    ax.legend()
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(RESULTS / "i18_webhook.png", dpi=100)


def main() -> None:
    found = runs()
    (RESULTS / "i18_webhook.json").write_text(json.dumps({"benchmark": "webhook_effect", "runs": found},
                                                         indent=2) + "\n")
    plot(found)
    for mode in MODES:
        for run in found[mode]:
            print(f"{mode:8} {run['run']:28} p50 {run['latency_ms']['p50']:6.2f}  p99 {run['latency_ms']['p99']:6.2f}"
                  f"  lost {run['lost']}  resolved {run['first_ringing_resolved']:.0%}  load {run['loadavg']}")


if __name__ == "__main__":
    main()
