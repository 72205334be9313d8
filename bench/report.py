"""The results table of bench/README.md, from the JSON files in bench/results/.

    python -m bench.report
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import RESULTS

# popup: FerretDB as shipped; *_sqlite_id_index: older runs with an _id index added out of band (see README)
POPUP_RESULTS = ("popup_before_fix", "popup", "popup_sqlite_id_index", "popup_50_fixes_sqlite_id_index",
                 "popup_latest_sqlite_id_index")


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _load_text(result: dict[str, Any]) -> str:
    start, end = result["machine_start"], result.get("machine_end", result["machine_start"])
    return f"{start['loadavg'][0]:.1f} → {end['loadavg'][0]:.1f} ({start['nproc']} cores)"


def rows() -> list[str]:
    out = ["| benchmark | figure | goal | met | load avg (1 min, start → end) |", "|---|---|---|---|---|"]
    for name in POPUP_RESULTS:
        popup = _load(name)
        if popup is None:
            continue
        for phase in popup["phases"]:
            lat, floor, ratio = phase["latency_ms"], phase["floor_ms"], phase["ratio_to_floor"]
            goal = "p99 ≤ 50 ms and ≤ 5× floor" if phase["rate"] == 50 else "—"
            met = "—"
            if phase["rate"] == 50:
                met = "yes" if lat["p99"] <= 50 and ratio.get("p99", 99) <= 5 else "no"
            out.append(f"| popup latency, {phase['rate']:g} calls/s × {popup['seconds']} s ({name}) | p50 "
                       f"{lat['p50']} / p95 {lat['p95']} / p99 {lat['p99']} / max {lat['max']} ms "
                       f"({lat['count']} rings); floor p50 "
                       f"{floor['p50']} / p99 {floor['p99']} ms; ratio p50 {ratio.get('p50')}× p99 {ratio.get('p99')}× "
                       f"| {goal} | {met} | {phase['machine_end']['loadavg'][0]:.1f} at end |")
            lost = phase["lost"] + phase["misrouted"] + phase["duplicated"]
            out.append(f"| popups lost / misrouted / duplicated, {phase['rate']:g} calls/s ({name}) | "
                       f"{phase['lost']} / {phase['misrouted']} / {phase['duplicated']} | 0 | "
                       f"{'yes' if lost == 0 else 'no'} | |")
            cards = phase["cards"]
            share = cards["resolved_share"]
            out.append(f"| first ringing card resolved, {phase['rate']:g} calls/s ({name}) | {share:.2%} of "
                       f"{cards['calls_rung']} calls ({cards['first_ringing']}); lookup from call entry p50 "
                       f"{cards['lookup_from_entry_ms'].get('p50')} / p99 {cards['lookup_from_entry_ms'].get('p99')} "
                       f"ms | 100% | {'yes' if share == 1 else 'no'} | |")
    for name in ("lookup_api", "lookup_api_memory"):  # before / with the API's memory of cards
        if lookup := _load(name):
            out += _lookup_rows(lookup, _load_text(lookup), run=name)
    if scale := _load("scale"):
        for run in scale["imports"]:
            out.append(f"| import {run['accounts']:,} accounts ({run['numbers']:,} numbers) | {run['import_s']} s, "
                       f"{run['rows_per_s']:,.0f} rows/s | finishes, rate flat | "
                       f"{'yes' if run['accounts'] < 100_000 or _flat(run) else 'no'} | "
                       f"{run['machine_end']['loadavg'][0]:.1f} at end |")
        if not (rerun := _load("scale_lookups")):  # a lookups-only rerun on the same bases supersedes
            for lookup in scale["lookups"]:
                out += _lookup_rows(lookup, f"{lookup['machine_end']['loadavg'][0]:.1f} at end", run="scale",
                                    goals=True)
        else:
            for lookup in rerun["lookups"]:
                out += _lookup_rows(lookup, f"{lookup['machine_end']['loadavg'][0]:.1f} at end", run="scale_lookups",
                                    goals=True)
    if indexed := _load("scale_sqlite_id_index"):  # the same bases, FerretDB given the _id index, API memory on
        for lookup in indexed["lookups"]:
            out += _lookup_rows(lookup, f"{lookup['machine_end']['loadavg'][0]:.1f} at end",
                                run="scale_sqlite_id_index", goals=True)
    for name in ("listener_cost", "listener_cost_after_fix", "listener_cost_40k", "listener_cost_100k",
                 "listener_cost_100k_quiet"):
        cost = _load(name)
        if cost is None:
            continue
        rss = cost["rss_mib"]
        growth = cost["rss_growth_20pct_to_end"]
        at = {x["calls"]: x["rss_mib"] for x in cost["samples"]}
        tenth = at.get(10_000)
        out.append(f"| listener CPU, {cost['calls']:,} calls at {cost['rate']:g}/s (×{cost['speed']:g}) ({name}) | "
                   f"{cost['cpu_s_per_1000_calls']} CPU s per 1,000 calls | — | — | {_load_text(cost)} |")
        slope = ""
        if tenth:
            per_1000 = (rss["at_end_under_load"] - tenth) / (cost["calls"] - 10_000) * 1000
            slope = f"; after 10,000 calls (bounded state full): {per_1000:+.2f} MiB per 1,000 calls"
        from_20k = ""
        met = "not measured (run too short)"
        if at.get(20_000) and cost["calls"] > 20_000:
            end = rss["at_end_under_load"]
            growth_20k = end / at[20_000] - 1
            from_20k = f"; 20,000 → {cost['calls']:,}: {at[20_000]} → {end} MiB ({growth_20k:+.1%})"
            if cost["calls"] >= 100_000:
                met = "yes" if abs(growth_20k) <= 0.10 else "no"
                late = at.get(cost["calls"] * 3 // 10)
                if late:  # where a run's high-water mark was reached early, the rest shows per-call growth
                    from_20k += f"; 30% → end: {late} → {end} MiB ({end / late - 1:+.1%})"
        out.append(f"| listener RSS at 20% → 100% of {cost['calls']:,} calls ({name}) | {rss['at_20pct']} → "
                   f"{rss['at_end_under_load']} MiB ({growth:+.1%}){slope}{from_20k} | flat within 10%, 20k → 100k | "
                   f"{met} | |")
    return out


def _flat(run: dict[str, Any]) -> bool:
    """The rate does not fall with the size of the base: the last third still reaches the first third's
    median (dips while other processes load the shared machine come and go)."""
    rates = [r for _, r in run["rate_curve"]]
    third = max(1, len(rates) // 3)
    return max(rates[-third:]) >= 0.75 * sorted(rates[:third])[third // 2]


_PHASE_LABELS = {"warm": "warm", "warm_store": "warm, API memory off", "cold": "cold"}


def _lookup_rows(lookup: dict[str, Any], load: str, *, run: str, goals: bool = False) -> list[str]:
    phases, n = lookup["phases"], lookup["accounts"]
    out = []
    for name in ("warm", "warm_store", "cold"):
        if name not in phases:  # runs before the API kept cards in memory have no warm_store phase
            continue
        sat, one = phases[name], phases.get(f"{name}_1conn")
        ratio = lookup["throughput_ratio"][name]
        label = f"{_PHASE_LABELS[name]} ({run})"
        out.append(f"| lookup {label}, {n:,} accounts, {lookup['connections']} conns | {sat['rps']:,.0f} req/s = "
                   f"{ratio:.1%} of /ping ({phases['ping']['rps']:,.0f}); p50 {sat['percentiles_ms']['50']:.1f} / "
                   f"p99 {sat['percentiles_ms']['99']:.1f} ms; degraded {sat['degraded']}/{sat['requests']} | "
                   f"≥ 60% of /ping | {'yes' if ratio >= 0.6 else 'no'} | {load} |")
        if one:
            limit = 50 if name == "cold" else 20
            goal = f"p99 ≤ {limit} ms at 1M" if goals and n >= 1_000_000 else "—"
            met = ("yes" if one["percentiles_ms"]["99"] <= limit and not one["degraded"] else "no") \
                if goal != "—" else "—"
            out.append(f"| lookup {label}, {n:,} accounts, 1 conn | p50 {one['percentiles_ms']['50']:.1f} / p99 "
                       f"{one['percentiles_ms']['99']:.1f} ms, {one['rps']:,.0f} req/s; degraded "
                       f"{one['degraded']}/{one['requests']} | {goal} | {met} | |")
    return out


# Issue 20's runs (bench/README.md, "Issue 20"): before / after on the same machine, each naming its store.
# 4 Dec: before = 954d983 (3 Dec's final main), after = that session's main as it stood then (its commit named);
# one after the other, alternated.
S27_RUNS = (("b", "before", "954d983"), ("b", "after", "ca5f816: GC, parsing, fewer loop turns, screens behind"),
            ("c", "after", "5253058: + lookups linger on each round trip"), ("c", "before", "954d983"),
            ("d", "after", "3af6ff1: lookups linger on their reads only"), ("e", "before", "954d983"),
            ("e", "after", "3af6ff1: lookups linger on their reads only"),
            ("f", "after", "3af6ff1, py-spy on the listener"))
I20_LISTENER = (("i20_listener_off", "before: every event (--ami-filter off)"),
                ("i20_listener", "after: the shipped filter"),
                ("i20c_listener", "final: + incremental live-call saves"),
                ("i20c_listener_100k_pre", "100,000 calls at 100/s, before the webhook backlog fix"),
                ("i20c_listener_100k", "after the webhook backlog fix, before records were kept a field each"),
                ("i20d_listener_100k", "waiting records kept a field each, saves not cancelled, webhook list 60 s"),
                ("i20e_listener_100k", "final: + lease renewed from a thread, webhook list as last read"),
                *((f"i20f_listener_{side}_{n}", f"3 Dec {side} requests went together, run {n}")
                  for n in (1, 2) for side in ("before", "after")),
                ("i20g_listener_before_1", "3 Dec (2nd) before lookups went together"),
                ("i20g_listener_after_1", "3 Dec (2nd) after lookups went together"),
                *((f"s27{run}_{side}_listener{'_profiled' * (run == 'f')}", f"4 Dec {side}, {code} (run {run})")
                  for run, side, code in S27_RUNS),
                ("s27h_before_listener_20k", "4 Dec before, 954d983, 20,000 calls at 100/s"),
                ("s27h_after_listener_20k", "4 Dec after, 416a7de, 20,000 calls at 100/s"))
I20_LOOKUP = (("i20_lookup_api_before", "before: no fast path"), ("i20_lookup_api", "after: fast path"),
              ("i20c_lookup_api", "final"), ("i20g_lookup_api", "3 Dec (2nd), lookups read together"))
I20_POPUP = (("i20_popup", "levers 1-4"), ("i20c_popup", "final: + incremental saves, bounded lookups"),
             *((f"i20f_popup_{side}_{n}", f"3 Dec {side} requests went together, run {n}")
               for n in (1, 2, 3) for side in ("before", "after")),
             ("i20f_popup_after_profiled_50", "3 Dec after, py-spy on the listener"),
             ("i20f_popup_profiled_100", "3 Dec final main, py-spy on the listener at 100 calls/s"),
             ("i20f_popup_100_alone", "3 Dec final main, 100 calls/s alone (the control of the next row)"),
             ("i20f_popup_100_slots48", ("3 Dec, bench-only setting LISTENER_LOOKUPS_AT_ONCE=48 (ships 16), "
                                         "100 calls/s alone")),
             *((f"i20g_popup_{side}_{n}", f"3 Dec (2nd) {side} lookups went together, run {n}")
               for n in (1, 2) for side in ("before", "after")),
             ("i20g_popup_100_slots16", "3 Dec (2nd) lookups together, 100 calls/s alone (control of the next row)"),
             ("i20g_popup_100_slots64", ("3 Dec (2nd) lookups together, bench-only setting "
                                         "LISTENER_LOOKUPS_AT_ONCE=64 (ships 16), 100 calls/s alone")),
             ("i20g_popup_100_cpu", "3 Dec (2nd) lookups together, 100 calls/s alone, CPU per process sampled"),
             ("i20g_popup_50_split", "3 Dec (2nd) lookups together, 50 calls/s alone, the listener's share recorded"),
             *((f"i20g_popup_side_by_side_{n}", f"3 Dec (2nd) agents' events side by side (reverted), run {n}")
               for n in (1, 2)),
             ("i20g_popup_main", "3 Dec (2nd) final main"),
             *((f"s27{run}_{side}_popup", f"4 Dec {side}, {code} (run {run})") for run, side, code in S27_RUNS))


def _backlog_peaks(cost: dict[str, Any]) -> str:
    """The most of each kind of work the listener held at once (``callercard_listener_backlog``), by phase."""
    peaks: dict[str, list[int]] = {}
    for sample in cost.get("samples", []):
        for what, size in sample.get("backlog", {}).items():
            peak = peaks.setdefault(what, [0, 0])
            peak[1 if sample.get("draining") else 0] = max(peak[1 if sample.get("draining") else 0], size)
    return ", ".join(f"{what} {offered:,} / {draining:,}" for what, (offered, draining) in peaks.items())


def _together(phase: dict[str, Any]) -> str:
    """What went together in the phase (``callercard.together``), when the run recorded it."""
    trips = phase.get("round_trips") or {}
    return "".join(f"; {what.replace('_', ' ')} {kind['items_per_round_trip']} per request"
                   for what, kind in sorted(trips.items()))


def _collections(phase: dict[str, Any]) -> str:
    """The listener's full garbage collections in the phase, when the run recorded them."""
    full = (phase.get("listener_gc_pauses") or {}).get("2")
    return f"; full GCs {full['count']} ({full['total_ms']:.0f} ms in all)" if full else ""


def _store(result: dict[str, Any]) -> str:
    return str(result.get("store", {}).get("store", "sqlite"))


def issue20_rows() -> list[str]:
    out = ["| figure (run, store) | measured | goal | met | load avg (1 min, start → end) |", "|---|---|---|---|---|"]
    for name, what in I20_LISTENER:
        if (cost := _load(name)) is None:
            continue
        kept = cost.get("ami_messages_kept_out", {})
        out.append(f"| listener, {cost['calls']:,} calls at {cost['rate']:g}/s ×{cost['speed']:g}, {what} ({name}, "
                   f"{_store(cost)}) | {cost['cpu_s_per_1000_calls']} CPU s / 1,000 calls; "
                   f"{cost.get('ami_messages_per_call')} AMI messages per call (kept out: {kept}); drained "
                   f"{cost['settle_s']} s after the load | ≤ 3 CPU s / 1,000 calls | "
                   f"{'yes' if cost['cpu_s_per_1000_calls'] <= 3 else 'no'} | {_load_text(cost)} |")
        rss = cost["rss_mib"]
        at = {x["calls"]: x["rss_mib"] for x in cost.get("samples", [])}
        if cost["calls"] >= 100_000 and at.get(20_000):
            growth = rss["at_end_under_load"] / at[20_000] - 1
            out.append(f"| listener RSS 20,000 → {cost['calls']:,} calls ({name}) | {at[20_000]} → "
                       f"{rss['at_end_under_load']} MiB ({growth:+.1%}); start {rss['start']}, after the drain "
                       f"{rss['after_drain']}, idle {rss['idle']} MiB | flat within 10%, 20k → 100k calls | "
                       f"{'yes' if abs(growth) <= 0.10 else 'no'} | |")
            if backlog := _backlog_peaks(cost):
                out.append(f"| listener backlog, most at once while offered / while draining ({name}) | {backlog} "
                           f"| bounded | — | |")
            continue
        out.append(f"| listener RSS 20% → end ({name}) | {rss['at_20pct']} → {rss['at_end_under_load']} MiB "
                   f"({cost['rss_growth_20pct_to_end']:+.1%}) over {cost['calls']:,} calls | flat within 10%, "
                   f"20k → 100k calls | not measured (run too short) | |")
    for run, what in I20_POPUP:
        if (popup := _load(run)) is None:
            continue
        for phase in popup["phases"]:
            lat, ratio, cards = phase["latency_ms"], phase["ratio_to_floor"], phase["cards"]
            share, rate = cards["resolved_share"], phase["rate"]
            if rate == 50:
                goal = "p99 ≤ 50 ms, ≤ 5× floor, 0 lost, 100% resolved"
                met = lat["p99"] <= 50 and ratio.get("p99", 99) <= 5 and share == 1 and phase["lost"] == 0
            else:
                goal = "p99 ≤ 100 ms, 0 lost, 0 misrouted, ≥ 99% resolved"
                met = lat["p99"] <= 100 and phase["lost"] == 0 and phase["misrouted"] == 0 and share >= 0.99
            out.append(f"| popups at {rate:g} calls/s × {popup['seconds']} s, {what} ({run}, {_store(popup)}) | p50 "
                       f"{lat['p50']} / p99 {lat['p99']} ms ({lat['count']} rings), floor p99 "
                       f"{phase['floor_ms']['p99']} ms, ratio p99 {ratio.get('p99')}×; lost {phase['lost']}, "
                       f"misrouted {phase['misrouted']}, duplicated {phase['duplicated']}; first ringing card "
                       f"resolved {share:.2%} of {cards['calls_rung']}; listener "
                       f"{phase['listener_cpu_s_per_1000_calls']} CPU s / 1,000 calls, "
                       f"{phase.get('ami_messages_per_call')} AMI messages per call{_together(phase)}"
                       f"{_collections(phase)} | {goal} | "
                       f"{'yes' if met else 'no'} | {phase['machine_end']['loadavg'][0]:.1f} at end |")
    for name, what in I20_LOOKUP:
        if (lookup := _load(name)) is None:
            continue
        phases, ratio = lookup["phases"], lookup["throughput_ratio"]
        for phase, limit in (("warm", 5), ("cold", 20)):
            sat, one = phases[phase], phases[f"{phase}_1conn"]
            throughput = (f" | ≥ 80% of /ping at 16 conns | {'yes' if ratio[phase] >= 0.8 else 'no'}"
                          if phase == "warm" else " | — | —")
            out.append(f"| lookup {phase}, {lookup['accounts']:,} accounts, {what} ({name}, {_store(lookup)}) | "
                       f"{sat['rps']:,.0f} req/s = {ratio[phase]:.1%} of /ping ({phases['ping']['rps']:,.0f}) at "
                       f"{lookup['connections']} conns; 1 conn p99 {one['percentiles_ms']['99']:.2f} ms, degraded "
                       f"{sat['degraded'] + one['degraded']}{throughput} | {_load_text(lookup)} |")
            out.append(f"| lookup {phase} p99 at 1 conn ({name}) | {one['percentiles_ms']['99']:.2f} ms at "
                       f"{lookup['accounts']:,} accounts | ≤ {limit} ms at 1M accounts | not measured at 1M | |")
    return out + _i20_scale_rows() + _i20_scale_rows("i20g_scale")


def _i20_scale_rows(name: str = "i20c_scale") -> list[str]:
    """Lookups at 1M accounts on the indexed store, and their p99 against the 10k base's in the same run."""
    if (scale := _load(name)) is None:
        return []
    store = _store(scale)
    out = [f"| import {run['accounts']:,} accounts ({run['numbers']:,} numbers) ({name}, {store}) | "
           f"{run['import_s']} s, {run['rows_per_s']:,.0f} rows/s | — | — | {_load_text(scale)} |"
           for run in scale["imports"]]
    for lookup in scale["lookups"]:
        for phase, limit in (("warm", 5), ("cold", 20)):
            one = lookup["phases"][f"{phase}_1conn"]
            p99 = one["percentiles_ms"]["99"]
            big = lookup["accounts"] >= 1_000_000
            out.append(f"| lookup {phase} p99 at 1 conn, {lookup['accounts']:,} accounts ({name}, {store}) "
                       f"| {p99:.2f} ms (p50 {one['percentiles_ms']['50']:.2f}); degraded {one['degraded']}/"
                       f"{one['requests']} | {f'≤ {limit} ms at 1M accounts' if big else '—'} | "
                       f"{('yes' if p99 <= limit and not one['degraded'] else 'no') if big else '—'} | |")
    small, large = scale["lookups"]
    for phase in ("warm", "cold"):
        for key, conns in ((phase, f"{large['connections']} conns"), (f"{phase}_1conn", "1 conn")):
            ratio = large["phases"][key]["percentiles_ms"]["99"] / small["phases"][key]["percentiles_ms"]["99"]
            out.append(f"| lookup {phase} p99, {large['accounts']:,} / {small['accounts']:,} accounts, {conns} "
                       f"({name}) | {large['phases'][key]['percentiles_ms']['99']:.2f} / "
                       f"{small['phases'][key]['percentiles_ms']['99']:.2f} ms = {ratio:.2f}× | ≤ 1.5× | "
                       f"{'yes' if ratio <= 1.5 else 'no'} | |")
    return out


if __name__ == "__main__":
    print("\n".join(rows()))
    print()
    print("\n".join(issue20_rows()))
