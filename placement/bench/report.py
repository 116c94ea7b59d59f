"""The benchmark report: ``report.md`` and ``report.html`` (same content) from results rows.

Kept apart from the runner so a report can be rewritten from ``results.csv`` alone (change a
table, rerun nothing). Every number in a table is an aggregate of ``results.csv`` columns,
named in the table's caption, so a reader (and ``tests/test_bench.py``) can recompute it.

Conventions: "solved" rows are status optimal or feasible; means are over solved rows; true
figures come from the generator's hidden ground truth, predicted ones from the instance's
measured slowdowns (what the solvers optimized).
"""

from __future__ import annotations

import html
import os
import platform
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from statistics import mean, median
from typing import Any

from placement.bench import plots as bench_plots
from placement.bench.suite import SUITES_DIR, StudySpec, Suite, run_key
from placement.formats.files import write_text_atomic
from solvers.objectives import goal

Row = dict[str, Any]
is_solved = bench_plots.is_solved


# --------------------------------------------------------------------------- formatting
def num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def mean_of(rows: Sequence[Row], key: str) -> float | None:
    vals = [r[key] for r in rows if r[key] is not None]
    return mean(vals) if vals else None


def label(row: Row, sweep: bool) -> str:
    """A solver's name in tables; with a time-limit sweep the limit is part of it."""
    return f"{row['solver']} @{row['time_limit']:g}s" if sweep else row["solver"]


# --------------------------------------------------------------------------- environment
def environment() -> dict[str, str]:
    """Where the numbers were measured: they are only comparable on like machines."""
    versions = {}
    for pkg in ("ortools", "pulp", "highspy", "numpy", "scikit-learn", "placement"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "python": sys.version.split()[0],
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


# --------------------------------------------------------------------------- tables
def solver_summary(rows: Sequence[Row], sweep: bool) -> str:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[label(r, sweep)].append(r)
    body = []
    for name, sel in groups.items():
        ok = [r for r in sel if is_solved(r)]
        secs = [r["seconds"] for r in sel if r["seconds"] is not None]
        body.append([
            name, len(sel), len(ok),
            num(mean_of(ok, "true_mean_degradation")), num(mean_of(ok, "pred_mean_degradation")),
            num(mean_of(ok, "true_p99_degradation")),
            sum(r["true_slo_violations"] for r in ok), sum(r["pred_slo_violations"] for r in ok),
            num(mean_of(ok, "true_machines_used"), 2),
            num(median(secs) if secs else None, 3), num(mean_of(ok, "gap")),
        ])
    return table(["solver", "runs", "solved", "true mean deg", "pred mean deg", "true p99 deg",
                  "true SLO viol", "pred SLO viol", "machines", "median s", "mean gap"], body)


def by_column(rows: Sequence[Row], column: str, value: Callable[[list[Row]], float | None],
              digits: int, sweep: bool) -> str | None:
    """One line per value of ``column`` (load, interference, size), one column per solver."""
    keys = list(dict.fromkeys(r[column] for r in rows))
    if len(keys) < 2:
        return None
    names = list(dict.fromkeys(label(r, sweep) for r in rows))
    body = []
    for k in sorted(keys, key=_order):
        line = [k]
        for s in names:
            sel = [r for r in rows if r[column] == k and label(r, sweep) == s]
            line.append(num(value(sel), digits) if sel else "-")
        body.append(line)
    return table([column, *names], body)


def _order(value: Any) -> Any:
    levels = {"low": 0, "medium": 1, "high": 2}
    return (levels.get(value, 3), value) if isinstance(value, str) else (-1, value)


def violations_per_100(rows: list[Row]) -> float | None:
    ok = [r for r in rows if is_solved(r)]
    n = sum(r["replicas"] for r in ok)
    return 100 * sum(r["true_slo_violations"] for r in ok) / n if n else None


def mean_true_degradation(rows: list[Row]) -> float | None:
    return mean_of([r for r in rows if is_solved(r)], "true_mean_degradation")


def median_seconds(rows: list[Row]) -> float | None:
    secs = [r["seconds"] for r in rows if r["seconds"] is not None]
    return median(secs) if secs else None


def gap_table(rows: Sequence[Row]) -> str | None:
    limits = sorted({r["time_limit"] for r in rows})
    exact = [s for s in dict.fromkeys(r["solver"] for r in rows) if s in ("cpsat", "milp")]
    if len(limits) < 2 or not exact:
        return None
    body = []
    for t in limits:
        line: list[Any] = [f"{t:g}"]
        for s in exact:
            sel = [r for r in rows if r["solver"] == s and r["time_limit"] == t]
            line += [num(mean_of(sel, "gap")), f"{sum(r['status'] == 'optimal' for r in sel)}"
                     f"/{len(sel)}"]
        body.append(line)
    header = ["time limit (s)"]
    for s in exact:
        header += [f"{s} mean gap", f"{s} optimal"]
    return table(header, body)


def consolidation(rows: Sequence[Row], baseline: str = "first-fit") -> str | None:
    """Machines used under the ``machines`` objective, per solver, against ``baseline``."""
    ok = [r for r in rows if is_solved(r)]
    base = {(r["instance_id"], r["seed"]): r for r in ok if r["solver"] == baseline}
    if not ok:
        return None
    body = []
    for s in dict.fromkeys(r["solver"] for r in ok):
        sel = [r for r in ok if r["solver"] == s]
        clean = [r for r in sel if r["true_slo_violations"] == 0]
        saved = [base[(r["instance_id"], r["seed"])]["true_machines_used"] - r["true_machines_used"]
                 for r in sel if (r["instance_id"], r["seed"]) in base]
        body.append([s, len(sel), num(mean_of(sel, "true_machines_used"), 2),
                     num(mean(saved) if saved else None, 2), len(clean),
                     num(mean_of(clean, "true_machines_used"), 2),
                     num(mean_of(sel, "true_slo_violations"), 2)])
    return table(["solver", "solved", "mean machines",
                  f"fewer than {baseline} (instances both solved)",
                  "runs with 0 true SLO viol", "mean machines (those runs)",
                  "mean true SLO viol"], body)


def paper_rows(rows: Sequence[Row], study: StudySpec) -> list[dict[str, Any]]:
    """Table 5 figures per cluster: cumulative added latency in seconds (sum over workloads of
    ``total_added_latency_ms / 1000``), true and predicted, on the workloads every solver of the
    study solved (so the columns add up the same workloads)."""
    out = []
    roles = study.solvers
    for cluster in study.clusters:
        sel = [r for r in rows if r["cluster"] == cluster]
        seeds = [{r["seed"] for r in sel if r["solver"] == s and is_solved(r)} for s in roles]
        common = set.intersection(*seeds) if seeds else set()
        entry: dict[str, Any] = {"cluster": cluster, "workloads": len(common),
                                 "runs": len({r["seed"] for r in sel}),
                                 "paper": study.reference.get(cluster)}
        for kind in ("true", "pred"):
            entry[kind] = [
                sum(r[f"{kind}_total_added_latency_ms"] / 1000 for r in sel
                    if r["solver"] == s and r["seed"] in common) if common else None
                for s in roles
            ]
        out.append(entry)
    return out


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    return "inf" if b <= 0 else f"{a / b:.2f}"


def paper_tables(entries: list[dict[str, Any]], roles: Sequence[str]) -> str:
    head = ["cluster", "workloads"]
    head += [f"{s} true" for s in roles] + [f"{s} pred" for s in roles]
    head += [f"{s} paper" for s in roles]
    body = []
    for e in entries:
        paper = e["paper"] or [None] * len(roles)
        body.append([e["cluster"], f"{e['workloads']}/{e['runs']}",
                     *[num(v, 2) for v in e["true"]], *[num(v, 2) for v in e["pred"]],
                     *[num(v, 2) for v in paper]])
    main = table(head, body)
    pairs = list(zip(roles, roles[1:], strict=False))
    head = ["cluster"]
    for a, b in pairs:
        head += [f"{a}/{b} true", f"{a}/{b} pred", f"{a}/{b} paper"]
    body = []
    for e in entries:
        paper = e["paper"] or [None] * len(roles)
        line = [e["cluster"]]
        for i in range(len(pairs)):
            line += [ratio(e["true"][i], e["true"][i + 1]), ratio(e["pred"][i], e["pred"][i + 1]),
                     ratio(paper[i], paper[i + 1])]
        body.append(line)
    return main + "\n\nRatios (how many times more added latency the left solver causes):\n\n" + \
        table(head, body)


# --------------------------------------------------------------------------- the report
def study_section(study: StudySpec, rows: list[Row], replicas: dict, out: Path,
                  plots: list[str]) -> str:
    sweep = len({r["time_limit"] for r in rows}) > 1
    errors = [r for r in rows if r["status"] == "error"]
    parts = [f"## Study `{study.name}` ({study.kind})", "",
             _describe(study, rows), ""]
    if study.kind == "paper":
        entries = paper_rows(rows, study)
        parts += ["### Table 5: cumulative added latency (seconds)", "",
                  "Sum over the workloads of `total_added_latency_ms / 1000`, on the workloads "
                  "every solver placed (`workloads` = those / all). *true*: under the hidden "
                  "ground truth; *pred*: under the instance's measured slowdowns, which the "
                  f"solvers optimize. *paper*: {study.reference_source or 'published figures'}.",
                  "", paper_tables(entries, study.solvers), ""]
        name = bench_plots.paper_table(entries, study.solvers, out, f"{study.name}-vs-paper.png")
        plots = ([name] if name else []) + plots
    parts += ["### Per solver", "",
              "Means over solved runs (status optimal or feasible); SLO violations are sums "
              "over solved runs; `median s` is over all runs; `mean gap` over runs that report "
              "one (exact solvers).", "", solver_summary(rows, sweep), ""]
    extra = [
        ("Mean true degradation by load", by_column(rows, "load", mean_true_degradation, 4, sweep)),
        ("True SLO violations per 100 placed replicas by load",
         by_column(rows, "load", violations_per_100, 2, sweep)),
        ("Mean true degradation by interference level",
         by_column(rows, "interference", mean_true_degradation, 4, sweep)),
        ("Median solve seconds by size (replicas)",
         by_column(rows, "replicas", median_seconds, 3, sweep)),
        ("Exact solvers: mean final gap and proved optima by time limit", gap_table(rows)),
    ]
    if minimizes_machines(study):
        extra.append(("Consolidation (objective = machines; true SLO violations from the ground "
                      "truth)", consolidation(rows)))
    for title, body in extra:
        if body:
            parts += [f"### {title}", "", body, ""]
    for name in plots:
        parts += [f"![{name}]({name})", ""]
    if errors:
        parts += ["### Errors", "", *[f"- `{r['instance_id']}` seed {r['seed']} {r['solver']}: "
                                      f"{r['error']}" for r in errors[:20]], ""]
    return "\n".join(parts)


def _describe(study: StudySpec, rows: list[Row]) -> str:
    limits = ", ".join(f"{t:g}" for t in sorted({r["time_limit"] for r in rows}))
    objectives = ", ".join(sorted({str(r["objective_name"]) for r in rows})) or "-"
    slos = ", ".join(sorted({str(r["slo"]) for r in rows})) or "-"
    text = (f"Objective `{objectives}`, SLOs {slos}; solvers {', '.join(study.solvers)}; "
            f"time limit {limits} s per solve; seeds {_span(study.seeds)}")
    if study.kind == "grid":
        sizes = ", ".join(f"{r}x{m}" for r, m in study.sizes)
        text += (f"; sizes (replicas x machines) {sizes}; {study.types} machine types; loads "
                 f"{', '.join(f'{v:g}' for v in study.loads)}; interference "
                 f"{', '.join(study.interference)}")
    else:
        text += (f"; clusters {', '.join(study.clusters)}; models per workload "
                 f"{', '.join(map(str, study.models_per_workload))} (one replica each, in "
                 f"arrival order); loads {', '.join(f'{v:g}' for v in study.loads) or '0.6'}; "
                 f"interference {', '.join(study.interference) or 'medium'}")
    if study.max_replicas:
        text += "; only up to " + ", ".join(f"{n} replicas for {s}"
                                            for s, n in study.max_replicas.items())
    return text + f". {len(rows)} runs."


def _span(seeds: Sequence[int]) -> str:
    s = sorted(seeds)
    return f"{s[0]}..{s[-1]}" if len(s) > 2 and s == list(range(s[0], s[-1] + 1)) else \
        ", ".join(map(str, s))


def render(suite: Suite, out: Path, rows: list[Row], replicas: dict, ignored: int = 0) -> str:
    env = environment()
    shipped = suite.path.resolve() == (SUITES_DIR / f"{suite.name}.toml").resolve()
    name = suite.name if shipped else suite.path
    try:
        target = out.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        target = out
    solves = sum(r["seconds"] or 0 for r in rows)
    parts = [
        f"# Benchmark report: `{suite.name}`", "",
        f"Regenerate with: `placement bench --suite {name} -o {target}` "
        "(resumes: delete results.csv to rerun everything).", "",
        suite.description.strip(), "",
        f"Ran on: {env['platform']}; CPU {env['cpu']}, {env['cpus']} logical CPUs; Python "
        f"{env['python']}; {env['packages']}.", "",
        f"{len(rows)} runs, {sum(is_solved(r) for r in rows)} solved, "
        f"{solves:.1f} s of solving in all. One thread per solve. Columns of `results.csv`: "
        "`true_*` under the generator's hidden ground truth, `pred_*` under the instance's "
        "measured slowdowns.", "",
    ]
    if ignored:
        parts += [f"({ignored} rows of `results.csv` from other settings are not reported.)", ""]
    for study in suite.studies:
        sel = [r for r in rows if r["study"] == study.name]
        plots = draw(study, sel, replicas, out)
        parts.append(study_section(study, sel, replicas, out, plots))
    return "\n".join(parts).rstrip() + "\n"


def minimizes_machines(study: StudySpec) -> bool:
    """A consolidation study: its objective counts the machines used, so its report compares
    machines used with first-fit's instead of degradation (asked of the goal table)."""
    return study.objective is not None and goal(study.objective).figure == "machines_used"


def draw(study: StudySpec, rows: list[Row], replicas: dict, out: Path) -> list[str]:
    def key_of(r: Row) -> tuple:
        return run_key(r["instance_id"], r["solver"], r["seed"], r["time_limit"])

    p = f"{study.name}-"
    names = []
    if study.kind == "grid" and not minimizes_machines(study):
        names += [bench_plots.cdf(rows, replicas, out, p + "cdf.png", key_of),
                  bench_plots.versus_load(rows, out, p + "vs-load.png"),
                  bench_plots.time_versus_size(rows, out, p + "time-vs-size.png")]
    names.append(bench_plots.gap_versus_time(rows, out, p + "gap-vs-time.png"))
    if minimizes_machines(study):
        names.append(bench_plots.machines_used(rows, out, p + "machines.png"))
    return [n for n in names if n]


def write_report(suite: Suite, out: Path, rows: list[Row], replicas: dict,
                 ignored: int = 0) -> None:
    md = render(suite, out, rows, replicas, ignored)
    write_text_atomic(out / "report.md", md)
    write_text_atomic(out / "report.html", to_html(md, f"Benchmark report: {suite.name}"))


# --------------------------------------------------------------------------- markdown -> html
def to_html(md: str, title: str) -> str:
    """The small markdown subset the report uses (headings, tables, images, lists, code)."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
           "</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
           "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
           "padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
           "img{max-width:100%}code{background:#f4f4f4}</style></head><body>"]
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in block[0])
                       + "</tr>")
            for row in block[2:]:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
            continue
        if m := re.match(r"^(#{1,6}) (.*)", line):
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
        elif m := re.match(r"^!\[(.*)\]\((.*)\)$", line):
            out.append(f"<p><img src='{html.escape(m.group(2))}' alt='{html.escape(m.group(1))}'>"
                       "</p>")
        elif line.startswith("- "):
            out.append(f"<ul><li>{_inline(line[2:])}</li></ul>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)
