"""The lab's only entry point: parse, call control/, print. Heavy imports stay inside commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from slm_lab.cli_run import (EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, check_recording, fail, prepare_jobs,
                             print_result, result_status, run_job, stop)

class LabTyper(typer.Typer):
    """Typer whose usage errors (unknown option or command, missing argument) are one line,
    `error: ...`, with exit status 2, instead of click's multi-line usage box."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:  # typer (0.29, pinned) vendors its own click; older typers use the click package
            from typer._click import exceptions as click
        except ImportError:  # pragma: no cover
            from click import exceptions as click  # type: ignore[no-redef]

        if kwargs.get("standalone_mode") is False:  # a caller that handles click's exceptions itself
            return super().__call__(*args, **kwargs)
        kwargs["standalone_mode"] = False  # click raises instead of printing; the return value is the exit code
        try:
            return super().__call__(*args, **kwargs)
        except click.NoArgsIsHelpError as e:  # a bare `slm-lab`: the help is the answer
            text = e.ctx.get_help()  # typer's rich help prints itself and returns ""
            if text:
                typer.echo(text)
            return e.exit_code
        except click.UsageError as e:
            where = f"{e.ctx.command_path}: " if e.ctx is not None else ""
            hint = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
            message = " ".join(e.format_message().split())
            typer.echo(f"error: {where}{message[:1].lower() + message[1:]}{hint}", err=True)
            return EXIT_BAD_INPUT
        except click.ClickException as e:
            typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
            return e.exit_code
        except typer.Abort:  # Ctrl-C at a prompt
            typer.echo("aborted", err=True)
            return 1


app = LabTyper(add_completion=False, no_args_is_help=True, help="SLM Lab: spec-driven deep RL experiments.")


def _parse_vars(pairs: list[str]) -> dict[str, Any]:
    from slm_lab.spec.loader import parse_assignment

    return dict(parse_assignment(p, what="--var") for p in pairs)


@app.command()
def run(
    spec_file: Optional[str] = typer.Argument(None, help="JSON spec file (path, or relative to slm_lab/spec/)."),
    spec_name: Optional[str] = typer.Argument(None, help="Name of the spec inside the file (optional when it holds one spec, as a run's spec.json does)."),
    mode: str = typer.Argument("train", help="dev | train | train@<run dir | latest> (resume) | enjoy@<session dir> | search | search@<experiment dir | latest> (resume) | benchmark"),
    set_: list[str] = typer.Option([], "--set", "-s", help="Override a spec value: -s meta.max_session=1"),
    var: list[str] = typer.Option([], "--var", help="Value for a ${name} placeholder: --var env=CartPole-v1"),
    jobs_file: Path = typer.Option(Path("config/experiments.json"), "--jobs", help="Job schedule used with no arguments."),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="train: run the sessions as Ray tasks on the cluster at ADDRESS; search/benchmark: run the trials there (default: $RAY_ADDRESS, else train runs locally and search starts Ray here)."),
    record: bool = typer.Option(False, "--record", help="enjoy: also save a video of one greedy episode in <session dir>/video/."),
    record_to: Optional[Path] = typer.Option(None, "--record-to", help="enjoy: the video file to write, .mp4 or .gif (implies --record)."),
) -> None:
    """Run SPEC_NAME from SPEC_FILE in MODE; with no arguments, run the jobs in config/experiments.json.

    Exit status: 0 every session finished; 1 some failed (listed); 2 bad input; 130 interrupted."""
    from slm_lab.spec.errors import RunFault, SpecError

    import warnings

    # torch warns about a plain pickle's protocol before the weights-only load refuses it: the refusal is the one line
    warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
    recording = record or record_to is not None
    from slm_lab.lib import collector

    collector.pause()  # no garbage collection among the long-lived objects the imports make (lib/collector.py)
    try:
        prepared = prepare_jobs(spec_file, spec_name, mode, jobs_file, set_, _parse_vars(var))
        if recording:
            check_recording(prepared, record_to)
    except SpecError as e:
        fail(str(e))
    except RunFault as e:  # the data dir (or a run folder in it) cannot take what the job writes
        stop(str(e), EXIT_FAILED)
    except KeyboardInterrupt:
        typer.echo("interrupted before anything ran", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    finally:  # torch is imported and the specs are checked; no session has built anything yet
        collector.freeze()
    status = 0
    for (spec, parsed), file_text, name, mode_text in prepared:
        result = run_job(spec, parsed, file_text, name, ray_address, record_to if recording else False)
        print_result(name, mode_text, result)
        status = max(status, result_status(result, file_text, name))
    if status:
        raise typer.Exit(status)


@app.command()
def check(spec_files: list[str] = typer.Argument(..., help="Spec files to validate.")) -> None:
    """Validate spec files; print each spec checked, or the first error (exit status 2)."""
    from slm_lab.spec import SpecError, check_file

    for spec_file in spec_files:
        try:
            names = check_file(spec_file)
        except SpecError as e:
            fail(str(e))
        typer.echo(f"ok: {spec_file} ({', '.join(names)})")


@app.command()
def migrate(
    old_file: Path = typer.Argument(..., help="A spec file of SLM Lab v4 or v5 (kengz/SLM-Lab)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the converted specs (default: print them)."),
) -> None:
    """Convert an SLM Lab v4 / v5 spec file; print one line per key dropped or not mapped (docs/SPEC.md)."""
    import json

    from slm_lab.spec.errors import SpecError
    from slm_lab.spec.migrate import migrate_file

    try:
        new, notes = migrate_file(old_file)
    except SpecError as e:
        fail(str(e))
    for line in notes:
        typer.echo(line, err=True)
    text = json.dumps(new, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    from slm_lab.lib import io

    io.write_text(out, text)
    typer.echo(f"wrote: {out} ({', '.join(new)})", err=True)


@app.command()
def plot(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders (trials, or searches whose trial_<i> folders are compared)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output path without suffix (default: data/compare_<timestamp>/compare)."),
) -> None:
    """Overlay several trials on one graph (mean eval return with a 95% band each; one curve per (agent, env) pair of a multi-pair run), as PNG and HTML."""
    from slm_lab.lib.layout import RunLayout

    for d in run_dirs:
        if not d.is_dir():
            fail(f"plot: '{d}' is not a run folder")
        if not any(d.glob(RunLayout.session_glob())) and not any(d.glob(f"*/{RunLayout.session_glob()}")):
            fail(f"plot: '{d}' holds no session folders (expected a run folder from train or search mode)")
    from slm_lab.analysis import plot_compare
    from slm_lab.lib import io

    prefix = out or io.data_root() / f"compare_{io.timestamp()}" / "compare"
    png, html = plot_compare(list(run_dirs), prefix)
    typer.echo(f"graph: {png}")
    typer.echo(f"graph: {html}")


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="RUN_A RUN_B [RUN...]: trial or benchmark folders; the first is the baseline."),
    out: Optional[Path] = typer.Option(None, "--out", help="Comparison folder (default: data/compare_<timestamp>)."),
) -> None:
    """Is B better than A? IQM difference, P(B > A), Mann-Whitney p and a verdict per env; normalized aggregates, profiles and curves (docs/METRICS.md)."""
    if len(run_dirs) < 2:
        fail("compare: give at least two run folders (RUN_A RUN_B)")
    from slm_lab.analysis.compare import CompareError, compare as compare_runs
    from slm_lab.analysis.compare_table import print_comparison

    try:
        result = compare_runs(run_dirs, out)
    except CompareError as e:
        fail(f"compare: {e}")
    print_comparison(result)


env_app = typer.Typer(no_args_is_help=True, help="Install and list the Unity SLM-Env binaries.")
app.add_typer(env_app, name="env")


@env_app.command("install")
def env_install(
    name: str = typer.Argument(..., help="3dball | gridworld | tennis"),
    force: bool = typer.Option(False, "--force", help="Download and unpack again even if installed."),
) -> None:
    """Fetch slm-env-NAME from the npm registry into the lab's cache folder."""
    from slm_lab.env.unity_install import InstallError, install
    from slm_lab.spec.errors import SpecError

    try:
        path = install(name, force=force)
    except SpecError as e:
        fail(str(e))
    except InstallError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)
    typer.echo(f"installed: {name} -> {path}")


@env_app.command("list")
def env_list() -> None:
    """Show the Unity envs and where each is installed."""
    from slm_lab.env.unity_install import installed

    for name, path in installed().items():
        typer.echo(f"unity:{name:<10} {path if path else 'not installed (slm-lab env install ' + name + ')'}")


# --- lab housekeeping (control/ops.py, docs/OPERATIONS.md) ------------------------------------


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before removing.")) -> None:
    """Remove the data dir: every run with its logs (asks first)."""
    from slm_lab.control.ops import OpsError, reset as reset_data

    def confirm(question: str) -> bool:
        if not sys.stdin.isatty():
            fail("reset asks before removing anything; run it with --yes where no one can answer")
        return typer.confirm(question, default=False)

    try:
        removed = reset_data(confirm, yes)
    except OpsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed: {', '.join(map(str, removed))}" if removed else "nothing to remove: no data dir")


@app.command()
def clear(
    unity: bool = typer.Option(False, "--unity", help="Also remove the downloaded Unity env binaries."),
    baselines: bool = typer.Option(False, "--baselines", help="Also remove the measured random-policy baselines (measured again on next use)."),
) -> None:
    """Remove caches: __pycache__ and tool caches in the project (Unity downloads with --unity, measured baselines with --baselines)."""
    from slm_lab.control.ops import clear as clear_caches

    removed = clear_caches(unity, baselines=baselines)
    typer.echo(f"removed {len(removed)} cache folder(s)")


@app.command()
def kill(
    run_dirs: list[Path] = typer.Argument(None, help="Run or experiment folders whose processes to stop (default: every run of this data dir)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before stopping."),
    everything: bool = typer.Option(False, "--all", help="Every lab process of this user (other data dirs and checkouts too)."),
) -> None:
    """Stop the lab's running processes (runs, search drivers, sessions, Ray and Unity they started), found by their pid files."""
    from slm_lab.control.ops import kill as kill_lab, kill_targets

    for d in run_dirs or []:
        if not d.is_dir():
            fail(f"kill: '{d}' is not a run folder")
    targets = kill_targets(list(run_dirs or []), everything)
    if not targets:
        typer.echo("no lab processes running")
        return
    for p in targets:
        typer.echo(f"will stop {p.kind} {p.pid}: {(p.run_dir or p.cmd)[:100]}")
    if not yes:
        if not sys.stdin.isatty():
            fail("kill asks before stopping anything; run it with --yes where no one can answer")
        if not typer.confirm(f"stop these {len(targets)} process(es)?", default=False):
            typer.echo("nothing stopped")
            return
    stopped = kill_lab(targets)
    for p in stopped:
        typer.echo(f"stopped {p.kind} {p.pid}: {p.cmd[:100]}")


@app.command()
def sync(watch: bool = typer.Option(False, "--watch", help="Copy again every sync_interval_s seconds until Ctrl-C.")) -> None:
    """Copy the data dir into data_sync_dir from config/default.json (new and changed files)."""
    from slm_lab.control.ops import SyncResult, sync as sync_data
    from slm_lab.spec.errors import SpecError

    def report(result: SyncResult) -> None:
        typer.echo(f"synced: {len(result.copied)} file(s) copied, {result.skipped} unchanged")

    try:
        sync_data(watch, report)
    except SpecError as e:
        fail(str(e))
    except KeyboardInterrupt:
        typer.echo("sync stopped")


def main() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
