"""The terminal view of a comparison (analysis/compare.py): rich tables and the verdicts."""

from __future__ import annotations

from typing import Any


def _ci(value: Any, ci: list[Any]) -> str:
    from slm_lab.analysis.report import format_value

    return f"{format_value(value)} [{format_value(ci[0])}, {format_value(ci[1])}]"


def comparison_tables(result: dict[str, Any]) -> list[Any]:
    """(per-env table, aggregate table) as rich Tables."""
    from rich.table import Table

    from slm_lab.analysis.report import format_value

    pairs = Table(title=f"compare against {result['baseline']} (final eval return, 95% CIs)")
    for col in ("env", "B", "n A/B", "IQM A", "IQM B", "IQM B - A", "P(B > A)", "Mann-Whitney p", "sessions needed"):
        pairs.add_column(col, justify="left" if col in ("env", "B") else "right")
    for p in result["pairs"]:
        pairs.add_row(p["env"], p["b"], f"{p['sessions_a']}/{p['sessions_b']}", format_value(p["iqm_a"]),
                      format_value(p["iqm_b"]), _ci(p["iqm_difference"], p["iqm_difference_ci"]),
                      _ci(p["probability_of_improvement"], p["probability_of_improvement_ci"]),
                      format_value(p["mann_whitney_p"]), format_value(p["sessions_needed"]))
    agg = Table(title="normalized final score (random 0, reference 1), CIs stratified by env")
    for col in ("run", "IQM", "mean", "median", "optimality gap"):
        agg.add_column(col, justify="left" if col == "run" else "right")
    for label, run in result["runs"].items():
        a = run["aggregate"]
        agg.add_row(label, *(_ci(a[k]["value"], a[k]["ci"]) if a.get(k) else "n/a"
                             for k in ("iqm", "mean", "median", "optimality_gap")))
    return [pairs, agg]


def print_comparison(result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    for table in comparison_tables(result):
        console.print(table)
    for label, agg in result.get("across_envs", {}).items():
        console.print(f"across {len(agg['envs'])} envs: P({label} > {agg['vs']}) = "
                      f"{_ci(agg['probability_of_improvement'], agg['probability_of_improvement_ci'])}")
    for p in result["pairs"]:
        console.print(f"verdict: {p['verdict']}", highlight=False)
    console.print(f"comparison: {result['out_dir']} (compare.json, report.html, "
                  f"{len(result.get('graphs', []))} graphs as PNG + HTML)", highlight=False)
