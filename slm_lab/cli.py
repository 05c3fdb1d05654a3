"""The lab's only entry point: parse, call control/, print. Heavy imports stay inside commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="SLM Lab: spec-driven deep RL experiments.")

EXIT_BAD_INPUT = 2


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit status 2, no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _parse_vars(pairs: list[str]) -> dict[str, Any]:
    from slm_lab.spec.loader import parse_assignment

    return dict(parse_assignment(p, what="--var") for p in pairs)


def _print_result(spec_name: str, mode: str, result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(stderr=False)
    if "mean_return" in result:
        console.print(f"{spec_name} {mode}: mean return {result['mean_return']:.2f}")
        return
    from slm_lab.analysis import metrics_table

    console.print(metrics_table(result))
    # plain echo: a path must stay on one line to be copied
    typer.echo(f"results: {result['run_dir']}")
    report = Path(result["run_dir"]) / "report.html"
    if report.exists():
        typer.echo(f"report:  {report}")


@app.command()
def run(
    spec_file: Optional[str] = typer.Argument(None, help="JSON spec file (path, or relative to slm_lab/spec/)."),
    spec_name: Optional[str] = typer.Argument(None, help="Name of the spec inside the file."),
    mode: str = typer.Argument("train", help="dev | train | enjoy@<session dir>"),
    set_: list[str] = typer.Option([], "--set", "-s", help="Override a spec value: -s meta.max_session=1"),
    var: list[str] = typer.Option([], "--var", help="Value for a ${name} placeholder: --var env=CartPole-v1"),
    jobs_file: Path = typer.Option(Path("config/experiments.json"), "--jobs", help="Job schedule used with no arguments."),
) -> None:
    """Run SPEC_NAME from SPEC_FILE in MODE; with no arguments, run the jobs in config/experiments.json."""
    from slm_lab.spec.errors import SpecError

    try:
        variables = _parse_vars(var)
        if spec_file is None:
            from slm_lab.control.jobs import read_jobs

            jobs = read_jobs(jobs_file)
        elif spec_name is None:
            fail("give both SPEC_FILE and SPEC_NAME (or neither, to run config/experiments.json)")
        else:
            jobs = [(spec_file, spec_name, mode)]
        from slm_lab.control.run import prepare

        prepared = [(prepare(f, n, m, set_, variables), n, m) for f, n, m in jobs]  # validate all first
    except SpecError as e:
        fail(str(e))
    from slm_lab.control.run import run as run_job

    for (spec, parsed), name, mode_text in prepared:
        try:
            result = run_job(spec, parsed)
        except SpecError as e:
            fail(str(e))
        _print_result(name, mode_text, result)


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


def main() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
