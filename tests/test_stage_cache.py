"""The stage cache (qmtl_research.reporting.stage_cache): a stage is read back only for the same
inputs, code, numerics and earlier stages; the reuse is recorded and reported; the numbers a
reused stage records equal those computed again; a corrupted entry is not read."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from qmtl_research.config import load_strategy
from qmtl_research.pipeline import validate_strategy_stages
from qmtl_research.reporting import stage_cache

from test_reporting import tiny_strategy  # noqa: E402  (one home of the tiny strategy)

REPO = Path(__file__).resolve().parents[1]

TINY = tiny_strategy('Tiny strategy')


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A throwaway project home (its own .cache/stages) with a tiny two-asset portfolio strategy."""
    shutil.copytree(REPO / "params", tmp_path / "params", ignore=shutil.ignore_patterns("strategies"))
    (tmp_path / "params" / "strategies").mkdir()
    (tmp_path / "params" / "strategies" / "tiny.yaml").write_text(TINY)
    card = (REPO / "params" / "model_cards" / "audit-demo.yaml").read_text()
    (tmp_path / "params" / "model_cards" / "tiny.yaml").write_text(
        card.replace("strategy_id: audit-demo", "strategy_id: tiny"))
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    monkeypatch.setenv("QMTL_STORE_URL", f"sqlite:///{tmp_path}/store.sqlite")
    monkeypatch.delenv("QMTL_STAGE_CACHE", raising=False)
    return tmp_path


def _keys(cfg, fingerprint="f" * 64, files=({"path": "params/x.yaml", "sha256": "0" * 64},)):
    return stage_cache.stage_keys(cfg, validate_strategy_stages(cfg), fingerprint, list(files))


def test_a_key_changes_with_every_input_and_only_then():
    cfg = load_strategy("demo")
    base = _keys(cfg)
    assert list(base) == ["volatility", "rating"]                  # validation is never cached
    assert _keys(cfg) == base                                        # deterministic
    # a notebook is a view, not an input of a stage
    assert _keys(cfg, files=({"path": "params/x.yaml", "sha256": "0" * 64},
                             {"path": "notebooks/volatility.ipynb", "sha256": "1" * 64})) == base
    assert set(_keys(cfg, fingerprint="e" * 64).values()).isdisjoint(base.values())             # data
    assert set(_keys(cfg, files=({"path": "params/x.yaml", "sha256": "2" * 64},)).values()).isdisjoint(base.values())
    # a later stage's parameter changes its key only; an earlier stage's changes both (the chain)
    rating = cfg.model_copy(deep=True)
    rating.notebooks[1].parameters = {"kernels": ["RBF"]}
    got = _keys(rating)
    assert got["volatility"] == base["volatility"] and got["rating"] != base["rating"]
    vol = cfg.model_copy(deep=True)
    vol.notebooks[0].parameters = {"epochs": 3}
    got = _keys(vol)
    assert got["volatility"] != base["volatility"] and got["rating"] != base["rating"]
    seeded = cfg.model_copy(update={"seed": cfg.seed + 1})
    assert set(_keys(seeded).values()).isdisjoint(base.values())


def test_numerics_and_code_are_part_of_the_key(monkeypatch, tmp_path):
    cfg = load_strategy("demo")
    base = _keys(cfg)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")        # the second nbval pass's numerics
    assert set(_keys(cfg).values()).isdisjoint(base.values())
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert _keys(cfg) == base
    monkeypatch.setattr(stage_cache, "code_fingerprint", lambda: "another commit")
    assert set(_keys(cfg).values()).isdisjoint(base.values())


def test_round_trip_provenance_and_a_corrupted_entry(tmp_path):
    keys = {"volatility": "a" * 64, "rating": "b" * 64}
    first = stage_cache.StageCache.open("run-1", keys, folder=tmp_path)
    assert first.found == {} and [s["reused"] for s in first.provenance()] == [False, False]
    assert "no cached result" in first.provenance()[0]["reason"]
    assert "stage volatility is computed" in first.provenance()[1]["reason"]
    frame = pd.DataFrame({"x": [0.1, 0.2]})
    first.put("volatility", {"product": 1}, frame, 3.0)
    first.put("rating", {"product": 2}, frame * 2, 4.0)

    second = stage_cache.StageCache.open("run-2", keys, folder=tmp_path)
    assert second.get("volatility").product == {"product": 1}
    pd.testing.assert_frame_equal(second.get("rating").results, frame * 2)
    prov = second.provenance()
    assert [(s["stage"], s["reused"], s["computed_by_run"]) for s in prov] == \
        [("volatility", True, "run-1"), ("rating", True, "run-1")]
    from qmtl_research.reporting.provenance import stage_rows

    rows = dict(stage_rows(prov))
    assert rows["stage volatility"].startswith("reused, not recomputed") and "run-1" in rows["stage volatility"]

    # a changed byte: the entry is not read; the stage and those after it are computed, and the reason says why
    blob = tmp_path / "volatility" / f"{'a' * 64}.pkl"
    data = bytearray(blob.read_bytes())
    data[-2] ^= 0xFF
    blob.write_bytes(bytes(data))
    third = stage_cache.StageCache.open("run-3", keys, folder=tmp_path)
    assert third.found == {} and "does not match its sha256" in third.provenance()[0]["reason"]


def test_switched_off_reads_and_writes_nothing(tmp_path, monkeypatch):
    keys = {"var": "c" * 64}
    stage_cache.StageCache.open("run-1", keys, folder=tmp_path).put("var", 1, 2, 0.1)
    monkeypatch.setenv(stage_cache.ENV, "0")
    off = stage_cache.StageCache.open("run-2", keys, folder=tmp_path)
    assert off.found == {} and "off" in off.provenance()[0]["reason"]
    off.put("var", 3, 4, 0.1)
    monkeypatch.delenv(stage_cache.ENV)
    assert stage_cache.StageCache.open("run-3", keys, folder=tmp_path).get("var").product == 1


def test_only_the_newest_entries_are_kept(tmp_path):
    for i in range(stage_cache.KEEP + 2):
        stage_cache.StageCache("run", {"var": f"{i:064d}"}, tmp_path).put("var", i, i, 0.1)
    assert len(list((tmp_path / "var").glob("*.pkl"))) == stage_cache.KEEP
    assert len(list((tmp_path / "var").glob("*.json"))) == stage_cache.KEEP


def test_a_reused_stage_records_the_numbers_computed_again(home):
    from qmtl_research.reporting.provenance import provenance_tables
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore, RunKey

    lines: list[str] = []
    first = run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True)
    second = run_report("tiny", progress=False, echo=lines.append, no_notebooks=True)
    third = run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True, recompute=True)
    store = EvaluationStore.open()
    runs = {r.run_id: store.get_run(RunKey("portfolios", "tiny", r.run_id)) for r in (first, second, third)}
    stages = {rid: run["params"]["provenance"]["stages"] for rid, run in runs.items()}
    assert [s["reused"] for s in stages[first.run_id]] == [False]
    assert [(s["reused"], s["computed_by_run"]) for s in stages[second.run_id]] == [(True, first.run_id)]
    assert [s["reused"] for s in stages[third.run_id]] == [False]
    assert "--recompute" in stages[third.run_id][0]["reason"]
    assert any("var:" in ln and f"reused: computed by run {first.run_id}" in ln for ln in lines), lines
    ident = provenance_tables(runs[second.run_id])[0].set_index("item")["value"]
    assert ident["stage var"].startswith("reused, not recomputed") and first.run_id in ident["stage var"]
    # the recorded numbers: identical whether computed, read back or computed again (the Monte
    # Carlo's own id names the simulation that made them: the reused stage's is the first run's)
    results = [store.get_results(RunKey("portfolios", "tiny", r.run_id), "risk") for r in (first, second, third)]
    assert results[0].keys() == results[1].keys() == results[2].keys() and results[0]

    def same(a, b, ignore=()):
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        elif isinstance(a, dict):
            assert a.keys() == b.keys()
            for k in a:
                if k not in ignore:
                    same(a[k], b[k])
        else:
            assert a == b or (a != a and b != b), (a, b)       # NaN == NaN

    for name in results[0]:
        same(results[0][name], results[1][name])
        same(results[0][name], results[2][name], ignore=("run_id",))
    assert results[1][("risk", "montecarlo")]["run_id"] == results[0][("risk", "montecarlo")]["run_id"]
    assert results[2][("risk", "montecarlo")]["run_id"] != results[0][("risk", "montecarlo")]["run_id"]
    assert first.verdict == second.verdict == third.verdict
    assert runs[first.run_id]["validation"]["results"] == runs[second.run_id]["validation"]["results"]


class _Touch:
    """A pickle that creates a file when it is loaded (what a planted cache entry could run)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_planted_or_foreign_entry_is_never_unpickled(tmp_path, monkeypatch):
    """Under a plain sha256 sidecar anyone who can write the cache folder could plant a pickle with
    a matching digest; the sidecar now holds an HMAC under this user's key (outside the project),
    checked before unpickling: a planted entry, and one written under another user's key, are
    not read (and the planted code does not run)."""
    import hashlib
    import json
    import pickle

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cache_dir = tmp_path / "cache"
    keys = {"volatility": "d" * 64}
    ran = tmp_path / "pwned"
    blob = pickle.dumps((_Touch(ran), None))
    (cache_dir / "volatility").mkdir(parents=True)
    (cache_dir / "volatility" / f"{'d' * 64}.pkl").write_bytes(blob)
    (cache_dir / "volatility" / f"{'d' * 64}.json").write_text(json.dumps(
        {"stage": "volatility", "key": "d" * 64, "run_id": "x", "sha256": hashlib.sha256(blob).hexdigest(),
         "hmac_sha256": hashlib.sha256(blob).hexdigest()}))
    planted = stage_cache.StageCache.open("run-1", keys, folder=cache_dir)
    assert planted.found == {} and not ran.exists()
    assert "does not match its sha256" in planted.provenance()[0]["reason"]
    key = stage_cache.key_path()
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600 and len(key.read_bytes()) == 32

    # written under this user's key: read back; under another user's key (another config home): not read
    planted.put("volatility", {"product": 1}, None, 1.0)
    assert stage_cache.StageCache.open("run-2", keys, folder=cache_dir).get("volatility").product == {"product": 1}
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-user"))
    assert stage_cache.StageCache.open("run-3", keys, folder=cache_dir).found == {}


def test_an_authentic_entry_moved_to_another_key_is_not_read(tmp_path, monkeypatch):
    """The HMAC covers the stage and the key as well as the bytes: an entry written for one set of
    inputs, copied under another key with its sidecar's key edited, is recomputed, not reused."""
    import json

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    a, b = "a" * 64, "b" * 64
    stage_cache.StageCache("run-1", {"volatility": a}, tmp_path).put("volatility", {"product": "a"}, None, 1.0)
    folder = tmp_path / "volatility"
    (folder / f"{b}.pkl").write_bytes((folder / f"{a}.pkl").read_bytes())
    meta = json.loads((folder / f"{a}.json").read_text())
    (folder / f"{b}.json").write_text(json.dumps({**meta, "key": b}))
    assert stage_cache.StageCache.open("run-2", {"volatility": a}, folder=tmp_path).get("volatility") is not None
    moved = stage_cache.StageCache.open("run-3", {"volatility": b}, folder=tmp_path)
    assert moved.found == {} and "does not match" in moved.misses["volatility"]


@pytest.mark.parametrize("problem", ["empty", "group-readable", "symlink"])
def test_an_unusable_key_switches_the_cache_off_and_says_why(tmp_path, monkeypatch, problem):
    """A key that could not keep foreign entries out (an empty one makes every HMAC computable) is
    refused: nothing is read (a valid-looking entry is not unpickled) or written, and the reason
    names the key file and the fix."""
    import hashlib
    import hmac as hmac_mod
    import json
    import pickle

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = stage_cache.key_path()
    path.parent.mkdir(parents=True)
    if problem == "empty":
        path.write_bytes(b"")
        path.chmod(0o600)
    elif problem == "group-readable":
        path.write_bytes(b"k" * 32)
        path.chmod(0o640)
    else:
        real = tmp_path / "elsewhere.key"
        real.write_bytes(b"k" * 32)
        real.chmod(0o600)
        path.symlink_to(real)
    key_bytes = b"" if problem == "empty" else b"k" * 32
    ran = tmp_path / "pwned"
    blob = pickle.dumps((_Touch(ran), None))
    k = "e" * 64
    message = b"qmtl-stage-cache/2\0" + b"volatility\0" + k.encode() + b"\0" + blob
    (tmp_path / "cache" / "volatility").mkdir(parents=True)
    (tmp_path / "cache" / "volatility" / f"{k}.pkl").write_bytes(blob)
    (tmp_path / "cache" / "volatility" / f"{k}.json").write_text(json.dumps(
        {"stage": "volatility", "key": k, "hmac_sha256": hmac_mod.new(key_bytes, message, hashlib.sha256).hexdigest()}))
    cache = stage_cache.StageCache.open("run-1", {"volatility": k}, folder=tmp_path / "cache")
    assert cache.found == {} and not ran.exists() and not cache.write
    why = cache.misses["volatility"]
    assert str(path) in why and "delete" in why
    cache.put("volatility", {"product": 1}, None, 1.0)
    assert sorted(p.name for p in (tmp_path / "cache" / "volatility").iterdir()) == [f"{k}.json", f"{k}.pkl"]


def test_a_key_that_cannot_be_created_switches_the_cache_off(tmp_path, monkeypatch):
    """A config folder the key cannot be written to (here a file where the folder should be) does
    not stop the run: the cache is neither read nor written and the reason says what to set."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    cache = stage_cache.StageCache.open("run-1", {"volatility": "f" * 64}, folder=tmp_path / "cache")
    assert cache.found == {} and not cache.write
    assert "XDG_CONFIG_HOME" in cache.misses["volatility"]
    cache.put("volatility", {"product": 1}, None, 1.0)
    assert not (tmp_path / "cache").exists()
