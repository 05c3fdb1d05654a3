"""The parts of `slm-lab run` below its command line: exit statuses, preparing every job,
running one, and printing what it produced (cli.py keeps the commands themselves thin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer

EXIT_FAILED = 1  # the input was fine, but a session (or trial) failed or the machine refused a write
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: stopped at a safe point, resumable


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit status 2, no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def stop(message: str, code: int) -> NoReturn:
    """A run that could not finish: one line on stderr and `code` (1 a fault, 130 interrupted)."""
    typer.echo(f"error: {message}" if code != EXIT_INTERRUPTED else message, err=True)
    raise typer.Exit(code)


def print_result(spec_name: str, mode: str, result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(stderr=False)
    if "mean_return" in result:
        console.print(f"{spec_name} {mode}: mean return {result['mean_return']:.2f}")
        if result.get("video"):
            typer.echo(f"video:   {result['video']}")
        return
    if result.get("kind") in ("search", "benchmark"):
        from slm_lab.control.experiment import summary_table

        # a wide table: not squeezed to 80 columns when the output goes to a file or a pipe
        Console(width=console.width if console.is_terminal else 160).print(summary_table(result))
        typer.echo(f"results: {result['run_dir']}")
        for label, key in (("best spec", "best_spec"), ("benchmark", "benchmark_md"), ("report", "report")):
            if result.get(key):
                typer.echo(f"{label + ':':<11}{result[key]}")
        return
    from slm_lab.analysis import metrics_table

    if "pairs" in result:  # several (agent, env) pairs: one table each
        for label, pair_metrics in result["pairs"].items():
            console.print(metrics_table(pair_metrics, title=f"trial metrics of {label} (agent a, env e)"))
    else:
        console.print(metrics_table(result))
    # plain echo: a path must stay on one line to be copied
    typer.echo(f"results: {result['run_dir']}")
    if result.get("num_failed_sessions"):
        typer.echo(f"failed:  {result['num_failed_sessions']} session(s), each with its reason in session_<j>/error.txt")
    from slm_lab.lib.layout import RunLayout

    run = RunLayout(Path(result["run_dir"]))
    pairs = [RunLayout(p) for p in run.pair_folders()]
    for graph in run.trial_graphs() + [p.trial_graph("return").with_suffix(".png") for p in pairs]:
        if graph.exists():
            typer.echo(f"graph:   {graph}")
    for report in [run.report_html] + [p.report_html for p in pairs]:
        if report.exists():
            typer.echo(f"report:  {report}")


def single_spec_name(spec_file: str) -> str:
    """The name when SPEC_NAME is left out: the file must hold exactly one spec (a run's spec.json does)."""
    names = spec_names(spec_file)
    if len(names) != 1:
        fail(f"{spec_file} holds {len(names)} specs ({', '.join(names)[:200]}); give SPEC_NAME")
    return names[0]


Prepared = list[tuple[Any, str, str, str]]  # ((spec, mode), spec file, spec name, mode text) per job


def prepare_jobs(spec_file: str | None, spec_name: str | None, mode: str, jobs_file: Path, overrides: list[str],
                 variables: dict[str, Any]) -> Prepared:
    """Every job validated before the first one runs: a typo in the last job costs nothing."""
    if spec_file is None:
        from slm_lab.control.jobs import read_jobs

        jobs = read_jobs(jobs_file)
    else:
        if spec_name is not None and looks_like_mode(spec_name) and mode == "train" and spec_name not in spec_names(spec_file):
            spec_name, mode = None, spec_name  # `run data/<run>/spec.json dev`: the name left out
        jobs = [(spec_file, spec_name or single_spec_name(spec_file), mode)]
    from slm_lab.control.run import prepare

    return [(prepare(f, n, m, overrides, variables), f, n, m) for f, n, m in jobs]


def check_recording(prepared: Prepared, record_to: Path | None) -> None:
    """--record: enjoy only, a video path of a known kind, and a folder that takes it, all before
    the episode is played."""
    from slm_lab.control.preflight import check_folder_writable
    from slm_lab.control.video import check_video_path
    from slm_lab.control.run import find_model
    from slm_lab.lib.layout import SessionLayout

    if any(parsed.kind != "enjoy" for (_, parsed), _, _, _ in prepared):
        fail("--record works with mode enjoy@<session dir> only")
    if record_to is not None:
        check_video_path(record_to)
    for (_, parsed), _, _, _ in prepared:
        session_dir = SessionLayout.of_model(find_model(parsed.target or "")).dir
        check_folder_writable(record_to.parent if record_to is not None else session_dir)


def run_job(spec: Any, parsed: Any, file_text: str, name: str, ray_address: str | None,
             record_to: Path | None | bool) -> dict[str, Any]:
    """Run one prepared job; a fault stops the command with its exit status (`record_to`: False,
    or where enjoy's video goes, None for the session folder)."""
    from slm_lab.control.run import find_model
    from slm_lab.control.run import run
    from slm_lab.spec.errors import RunFault, RunInterrupted, SpecError

    try:
        result = run(spec, parsed, ray_address=ray_address)
        if parsed.kind == "enjoy" and record_to is not False:
            from slm_lab.control.video import record_video

            video, _ = record_video(spec, find_model(parsed.target or ""), record_to or None)
            result["video"] = str(video)
        return result
    except SpecError as e:
        fail(str(e))
    except RunFault as e:
        stop(str(e), EXIT_FAILED)
    except RunInterrupted as e:
        stop(f"interrupted; the run keeps its checkpoints. Resume it with: "
              f"slm-lab run {file_text} {name} {e.resume}", EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        stop("interrupted", EXIT_INTERRUPTED)
    except OSError as e:  # a disk that filled up or went read-only mid-run
        from slm_lab.lib.io import data_root, disk_error

        stop(disk_error(e, data_root()), EXIT_FAILED)


def result_status(result: dict[str, Any], spec_file: str, name: str) -> int:
    """0 when every session (every trial) finished; 1 when any failed, each listed with its cause;
    130 when a search was stopped before all its trials ran (it resumes with search@<dir>)."""
    failures = [f"session {s}: {msg}" for s, msg in (result.get("failed_sessions") or {}).items()]
    failures += [f"trial {r['trial']}: {r.get('error', 'failed')}" for r in result.get("rows", []) if r.get("status") == "error"]
    for line in failures:
        typer.echo(f"failed:  {line}", err=True)
    if result.get("interrupted"):
        again = f"search@{result['run_dir']}" if result.get("kind") == "search" else "benchmark (it starts over)"
        typer.echo(f"interrupted; resume with: slm-lab run {spec_file} {name} {again}", err=True)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failures else 0


def spec_names(spec_file: str) -> list[str]:
    from slm_lab.spec.loader import read_spec_file

    return list(read_spec_file(spec_file))


def looks_like_mode(text: str) -> bool:
    return text.partition("@")[0] in ("dev", "train", "enjoy", "search", "benchmark")


