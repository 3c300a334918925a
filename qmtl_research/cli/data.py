"""`qmtl-research data ...`: materialise the offline universes, validate user files.

    qmtl-research data build [--n-funds 60] [--seed 20230831] [--force]
    qmtl-research data validate --returns R.csv --funds F.csv [--benchmarks B.csv] [--daily]
    qmtl-research data resample --input daily.csv --out weekly.csv [--force]
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from qmtl_research.cli._outputs import check_out
from qmtl_research.errors import InputError

if TYPE_CHECKING:  # pandas and the data package load only inside the commands (fast `--help`)
    import pandas as pd

    from qmtl_research.data.panel import FundPanel

MANIFEST = "manifest.json"


def _read_back(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)


def _same(existing: Path, new: Path) -> bool:
    """Same bytes, or (Parquet/CSV written by another library version) the same table."""
    import pandas as pd

    if existing.read_bytes() == new.read_bytes():
        return True
    if new.suffix == ".json":
        return json.loads(existing.read_text()) == json.loads(new.read_text())
    try:
        return _read_back(existing).equals(_read_back(new))
    except (OSError, ValueError, pd.errors.ParserError):
        return False


def _manifest(panel: FundPanel, extra: dict) -> dict:
    return {"source": panel.source, "synthetic": panel.synthetic, "n_funds": len(panel.fund_ids),
            "first_week": str(panel.dates[0].date()), "last_week": str(panel.dates[-1].date()),
            "fingerprint": panel.fingerprint(), **extra}


def materialise(panel: FundPanel, folder: Path, manifest: dict, force: bool = False) -> dict[str, str]:
    """Write ``panel`` into ``folder`` in the user file schema (+ manifest.json).

    Existing files with the same content are left alone; different ones are only
    replaced with ``force``. Returns file name -> "written" | "unchanged" | "replaced".
    """
    from qmtl_research.data.writers import frames_for_files, write_frame

    folder.mkdir(parents=True, exist_ok=True)
    status: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        tmp = Path(tmp)
        for name, frame in frames_for_files(panel).items():
            write_frame(frame, tmp / name)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        staged = sorted(tmp.iterdir())
        differing = [p.name for p in staged if (folder / p.name).exists() and not _same(folder / p.name, p)]
        if differing and not force:
            raise InputError(f"{folder} already holds different {', '.join(differing)}",
                             where=str(folder), fix="pass --force to replace them, or remove the folder")
        for p in staged:
            target = folder / p.name
            if target.exists() and p.name not in differing:
                status[p.name] = "unchanged"
                continue
            status[p.name] = "replaced" if target.exists() else "written"
            shutil.move(str(p), target)
    return status


def summary_lines(panel: FundPanel) -> list[str]:
    """Human summary of a loaded panel (used by `data validate`)."""
    r, m = panel.returns, panel.metadata
    obs = r.notna().sum()
    lines = [f"OK: {panel.label()}",
             f"  funds:      {len(panel.fund_ids)}",
             f"  weeks:      {len(r.index)} ({r.index[0].date()} .. {r.index[-1].date()}, Fridays)",
             f"  history:    {int(obs.min())} to {int(obs.max())} weekly returns per fund "
             f"({int((obs >= 156).sum())} funds with >= 156)",
             f"  benchmarks: {', '.join(panel.benchmarks.columns) or 'none'}",
             "  fund types: " + ", ".join(f"{k} {v}" for k, v in m["fund_type"].value_counts().sort_index().items())]
    grades = m["disclosed_grade"].dropna()
    if len(grades):
        lines.append("  disclosed grades: " + ", ".join(
            f"{int(k)}: {v}" for k, v in grades.value_counts().sort_index().items()))
    else:
        lines.append("  disclosed grades: none")
    left = panel.notes.get("funds_without_returns") or []
    if left:
        lines.append(f"  left out (no returns): {', '.join(left)}")
    return lines


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Fund data: materialise the offline universes, validate your own files.",
                      no_args_is_help=True)

    @grp.command("build")
    def build(n_funds: int = typer.Option(60, "--n-funds", min=1, help="synthetic universe size (2585 = paper scale)"),
              seed: int = typer.Option(20230831, "--seed", help="synthetic universe seed"),
              force: bool = typer.Option(False, "--force", help="replace existing files that differ")) -> None:
        """Write data/real/ (offline real universe) and data/synthetic/ in the user file schema."""
        from qmtl_research.data.synthetic import make_synthetic_universe
        from qmtl_research.data.universe import _real_built, copy_panel, real_data_dir, synthetic_data_dir

        jobs = [
            (real_data_dir(), lambda: copy_panel(_real_built()), {"builder": "build_real_universe()"}),
            (synthetic_data_dir(), lambda: make_synthetic_universe(n_funds=n_funds, seed=seed),
             {"builder": f"make_synthetic_universe(n_funds={n_funds}, seed={seed})", "seed": seed}),
        ]
        for folder, make, extra in jobs:
            panel = make()
            status = materialise(panel, folder, _manifest(panel, extra), force=force)
            typer.echo(f"{folder}: {panel.label()}, {len(panel.fund_ids)} funds x {len(panel.dates)} weeks")
            for name, what in status.items():
                typer.echo(f"  {name}: {what}")

    @grp.command("validate")
    def validate(returns: Path = typer.Option(..., "--returns", help="long-form returns or NAVs (CSV/Parquet)"),
                 funds: Path = typer.Option(..., "--funds", help="funds metadata (CSV/Parquet)"),
                 benchmarks: Path | None = typer.Option(None, "--benchmarks", help="long-form benchmark returns"),
                 synthetic: bool = typer.Option(False, "--synthetic", help="label the data as synthetic"),
                 daily: bool = typer.Option(False, "--daily", help="the files hold daily NAVs/returns (frequency: daily)")
                 ) -> None:
        """Load and check your files; print a summary, or the first error (non-zero exit)."""
        from qmtl_research.data.loaders import load_panel

        panel = load_panel(returns, funds, benchmarks, synthetic=synthetic, frequency="daily" if daily else "weekly")
        for line in summary_lines(panel):
            typer.echo(line)
        if panel.daily is not None:
            typer.echo(f"  daily:      {len(panel.daily.index)} days ({panel.daily.index[0].date()} .. "
                       f"{panel.daily.index[-1].date()}); {panel.notes['resampled']}")

    @grp.command("resample")
    def resample(input: Path = typer.Option(..., "--input", help="long-form DAILY NAVs or returns: date, fund_id, nav|return"),
                 out: Path = typer.Option(..., "--out", help="weekly returns file to write (CSV, or Parquet by suffix)"),
                 force: bool = typer.Option(False, "--force", help="replace an existing --out file")) -> None:
        """Daily NAVs/returns -> weekly (W-FRI) returns in the long form the loaders read."""
        from qmtl_research.data.loaders import RESAMPLE_NOTE, load_returns
        from qmtl_research.data.writers import _long, write_frame

        check_out(out, force=force)
        if out.resolve() == input.resolve():
            raise InputError("--out is the --input file", where="--out", fix="write the weekly file elsewhere")
        weekly, facts = load_returns(input, "daily")
        long = _long(weekly, "fund_id")
        write_frame(long, out)
        typer.echo(f"{len(long)} weekly returns of {weekly.shape[1]} funds ({weekly.index[0].date()} .. "
                   f"{weekly.index[-1].date()}) from {len(facts['daily'].index)} days of {facts['input']} -> {out}")
        typer.echo(f"  {RESAMPLE_NOTE}")
        if facts["single_nav_funds"]:
            typer.echo(f"  left out (a single NAV, no return): {', '.join(facts['single_nav_funds'])}")

    app.add_typer(grp, name="data")
