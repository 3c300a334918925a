"""The stage cache: a stage whose inputs and code did not change is read back, not recomputed.

``make report`` runs every stage of a strategy (:func:`qmtl_research.pipeline.run_strategy`).
A stage's product and results section depend only on

* the strategy configuration (its universe, seed, ...) and the stage's own parameters,
* the data panel (its fingerprint) and every input file of the run (sha256, notebooks excepted:
  they are views),
* every file under ``params/`` and every ``.py`` file of the package (the code),
* the package versions and the numeric settings of this process (BLAS / XLA / JAX variables,
  the CPU model): other numerics move the fits in the last digits,
* the stages before it (their keys).

The sha256 of all of these is the stage's **key**. When an entry with that key is in
``.cache/stages/<stage>/`` (the project's own folder, as ``.cache/jax``), the runner reads the
stage back instead of computing it: the same inputs and seed give the same numbers (a house rule
the tests check), so the numbers are those of the run that computed the entry. The reuse is never
hidden: the run's recorded provenance (``params["provenance"]["stages"]``) names, for each stage,
whether it was computed or reused and, when reused, the run that computed it, when, and the key;
the report prints it (Appendix B) and so do the run output and the manifest.

The validation stage (the verdict) is never cached: it is judged again in every run.

An entry is a pickle written by this module (atomically) with a JSON sidecar holding an
HMAC-SHA256 of its stage, key and bytes under this user's cache key (:func:`signing_key`: a random key in
``$XDG_CONFIG_HOME/qmtl-research/stage-cache.key``, mode 0600, outside the project and its cache).
The HMAC is checked **before** the bytes are unpickled: an entry this user's runs did not write (a
cache folder copied from elsewhere, a file another account dropped into a shared checkout) or one
whose bytes changed is never unpickled (the stage is computed and the output says why). The key
does not guard against code running as this user, which could edit the package itself. A key that
could not keep foreign entries out (a symbolic link, another user's file, readable or writable by
others, not 32 bytes) is refused: the cache is then neither read nor written, and the run output
says why and how to fix it.
``QMTL_STAGE_CACHE=0`` (or ``qmtl-research report run --recompute``) computes every stage and
writes no entry. :data:`KEEP` entries per stage are kept (the newest).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib.metadata as md
import json
import os
import pickle
import platform
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qmtl_research.paths import cache_dir, params_dir

ENV = "QMTL_STAGE_CACHE"
DIR_ENV = "QMTL_STAGE_CACHE_DIR"
KEEP = 3                      # entries kept per stage (the newest)
#: environment variables that change the numbers a stage computes (threads, instruction sets, backends)
#: (prefixes; logging switches that libraries set while they run, e.g. TF_CPP_MIN_LOG_LEVEL, are not)
NUMERIC_ENV = ("OPENBLAS_", "OMP_", "MKL_", "XLA_FLAGS", "JAX_ENABLE_X64", "JAX_PLATFORMS",
               "JAX_DEFAULT_MATMUL_PRECISION", "KERAS_BACKEND", "PYTHONHASHSEED")
#: packages whose versions are part of every key
PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "arch", "keras", "jax", "jaxlib", "scikit-learn",
            "pydantic", "joblib")


def key_path() -> Path:
    """Where this user's stage-cache key lives: ``$XDG_CONFIG_HOME`` (default ``~/.config``)
    ``/qmtl-research/stage-cache.key``, outside the project (a copied checkout brings no key)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "qmtl-research" / "stage-cache.key"


class UnusableKeyError(Exception):
    """This user's stage-cache key cannot authenticate entries (the message says why and what to do)."""


def signing_key() -> bytes:
    """This user's 32-byte stage-cache key, created (mode 0600, exclusively) on first use.

    Raises :class:`UnusableKeyError` for a key that would not keep foreign entries out: a symbolic
    link, a file of another user or readable/writable by others, or one that is not 32 bytes (an
    empty key would make every HMAC computable by anyone)."""
    path = key_path()
    fix = f"delete {path} (the next run creates a new key; entries written under the old one are recomputed)"
    try:
        key, st = _read_or_create_key(path)
    except OSError as exc:               # an unwritable config folder, a dangling link, ...
        raise UnusableKeyError(f"{path} cannot be created or read ({exc.strerror or exc}): set XDG_CONFIG_HOME "
                               f"to a folder of yours, or {fix}") from None
    if path.is_symlink() or st.st_uid != os.getuid():
        raise UnusableKeyError(f"{path} is a symbolic link or belongs to another user: {fix}")
    if st.st_mode & 0o077:
        raise UnusableKeyError(f"{path} is readable or writable by other users (mode {st.st_mode & 0o777:o}): "
                               f"chmod 600 it, or {fix}")
    if len(key) != 32:
        raise UnusableKeyError(f"{path} holds {len(key)} bytes, not a 32-byte key: {fix}")
    return key


def _read_or_create_key(path: Path) -> tuple[bytes, os.stat_result]:
    """The key file's bytes and its own ``lstat`` (created with 32 random bytes, mode 0600,
    exclusively, when missing; a concurrent creator that has not finished writing is waited for)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:          # another run created it first: read that one
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
    key = path.read_bytes()
    if len(key) < 32:
        import time

        for _ in range(50):
            time.sleep(0.02)
            key = path.read_bytes()
            if len(key) >= 32:
                break
    return key, path.lstat()


def _signature(secret: bytes, stage: str, key: str, blob: bytes) -> str:
    """HMAC-SHA256 of an entry: its stage, its key and its bytes (an authentic entry moved to
    another key, with its sidecar edited, does not verify)."""
    message = b"qmtl-stage-cache/2\0" + stage.encode() + b"\0" + key.encode() + b"\0" + blob
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def enabled() -> bool:
    """False when ``QMTL_STAGE_CACHE`` is ``0``, ``off``, ``false`` or ``no``."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def cache_root() -> Path:
    """``.cache/stages`` under the project root, or ``$QMTL_STAGE_CACHE_DIR`` (a benchmark's or a
    test's own folder, so that its first run is cold)."""
    folder = os.environ.get(DIR_ENV)
    return Path(folder).resolve() if folder else cache_dir() / "stages"


def _hash_files(h, files, root: Path) -> None:
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())


def code_fingerprint() -> str:
    """sha256 of the package's ``.py`` files, everything under ``params/`` and the package versions."""
    import qmtl_research

    h = hashlib.sha256()
    pkg = Path(qmtl_research.__file__).resolve().parent
    _hash_files(h, sorted(pkg.rglob("*.py")), pkg)
    params = params_dir().resolve()
    if params.is_dir():
        _hash_files(h, sorted(p for p in params.rglob("*") if p.is_file()), params)
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    h.update(json.dumps(versions, sort_keys=True).encode())
    return h.hexdigest()


def _cpu_model() -> str:
    """The CPU's model name and instruction-set flags (Linux), else ``platform.processor()``."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return platform.processor()
    lines = info.read_text(errors="replace").split("\n\n")[0].splitlines()     # the first processor
    return "\n".join(ln for ln in lines if ln.startswith(("model name", "flags")))


def numeric_settings() -> dict[str, str]:
    """The environment variables and machine facts that change a stage's numbers."""
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith(NUMERIC_ENV)}
    return {**env, "machine": platform.machine(), "cpu": _cpu_model(), "cpus": str(os.cpu_count())}


def stage_keys(cfg, stage_params: list, data_fingerprint: str | None, input_files: list[dict]) -> dict[str, str]:
    """The key of every cacheable stage of ``cfg`` (all but validation), in order.

    Parameters
    ----------
    cfg : StrategyConfig
        The strategy (its whole configuration is part of every key; of its steps, the stage's own
        parameters and the stages before it).
    stage_params : list of pydantic models
        Every step's validated parameters (:func:`qmtl_research.pipeline.validate_strategy_stages`).
    data_fingerprint : str or None
        The data panel's fingerprint (the run's ``data_fingerprint``).
    input_files : list of dict
        The run's input files (``{"path", "sha256", ...}``, :func:`~qmtl_research.reporting.inputs.inputs_manifest`);
        notebooks are left out (views of the results, not inputs of a stage).

    Returns
    -------
    dict
        stage name -> 64-hex key; a stage's key covers the keys of the stages before it.
    """
    files = sorted((f["path"], f["sha256"]) for f in input_files if not str(f["path"]).endswith(".ipynb"))
    # the strategy without its steps: a stage's own parameters and the keys of the stages before it
    # stand for those (a change to a later stage's parameters does not recompute an earlier stage)
    strategy = cfg.model_dump(mode="json", exclude={"notebooks"})
    base = {"strategy": strategy, "data": data_fingerprint, "files": files,
            "code": code_fingerprint(), "numerics": numeric_settings()}
    keys: dict[str, str] = {}
    for step, params in zip(cfg.notebooks, stage_params):
        if step.notebook == "validation":
            continue
        body = {**base, "stage": step.notebook, "params": params.model_dump(mode="json"), "before": dict(keys)}
        keys[step.notebook] = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return keys


@dataclass
class Entry:
    """A stage read back from the cache."""

    product: Any
    results: Any
    meta: dict


@dataclass
class StageCache:
    """The stage cache of one run: what was found before the run, and what the run computes.

    :func:`qmtl_research.pipeline.run_strategy` asks :meth:`get` for each stage and hands every
    stage it computed to :meth:`put`. :meth:`provenance` is what the run records.
    """

    run_id: str
    keys: dict[str, str]
    folder: Path = field(default_factory=cache_root)
    write: bool = True
    found: dict[str, Entry] = field(default_factory=dict)
    misses: dict[str, str] = field(default_factory=dict)       # stage -> why it is computed
    _secret: bytes | None = field(default=None, repr=False)     # this user's key, read once

    def _key(self) -> bytes:
        if self._secret is None:
            self._secret = signing_key()
        return self._secret

    @classmethod
    def open(cls, run_id: str, keys: dict[str, str], *, folder: Path | None = None) -> "StageCache":
        """Look every stage up now (before the run is created, so that its provenance says what is
        reused). With the cache switched off (``QMTL_STAGE_CACHE=0``) nothing is read or written."""
        on = enabled()
        cache = cls(run_id, dict(keys), folder or cache_root(), write=on)
        off = f"the stage cache is off ({ENV}=0 or --recompute)"
        if on:
            try:
                cache._key()
            except UnusableKeyError as exc:      # nothing is read or written without a usable key
                on = cache.write = False
                off = f"the stage cache is not used: {exc}"
        for stage, key in keys.items():
            if not on:
                cache.misses[stage] = off
                continue
            entry, why = cache._read(stage, key)
            if entry is None:
                cache.misses[stage] = why
                # a stage after a computed one is computed too: its input (the earlier product)
                # is the same by the key, but reading it back would mix two runs' products
                for later in list(keys)[list(keys).index(stage) + 1:]:
                    cache.misses[later] = f"stage {stage} is computed in this run"
                break
            cache.found[stage] = entry
        return cache

    def _paths(self, stage: str, key: str) -> tuple[Path, Path]:
        folder = self.folder / stage
        return folder / f"{key}.pkl", folder / f"{key}.json"

    def _read(self, stage: str, key: str) -> tuple[Entry | None, str]:
        data_path, meta_path = self._paths(stage, key)
        if not meta_path.is_file() or not data_path.is_file():
            return None, "no cached result for these inputs and code"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            blob = data_path.read_bytes()
        except FileNotFoundError:        # pruned by a concurrent run between the check and the read
            return None, f"cached entry {data_path.name} was removed while being read: recomputed"
        if meta.get("key") != key or not hmac.compare_digest(_signature(self._key(), stage, key, blob),
                                                           str(meta.get("hmac_sha256", ""))):
            return None, (f"cached entry {data_path.name} does not match its sha256 HMAC (changed, or not written "
                          "under this user's cache key): ignored and recomputed")
        # authenticated above: these bytes are the pickle put() wrote under this user's key
        product, results = pickle.loads(blob)
        return Entry(product, results, meta), ""

    def get(self, stage: str) -> Entry | None:
        """The stage read back, or None (compute it)."""
        return self.found.get(stage)

    def put(self, stage: str, product: Any, results: Any, seconds: float) -> None:
        """Keep a stage this run computed (atomically: a reader sees the whole entry or none)."""
        if not self.write or stage not in self.keys:
            return
        key = self.keys[stage]
        try:
            secret = self._key()
        except UnusableKeyError as exc:           # no entry that could not be authenticated later
            self.misses.setdefault(stage, f"not kept in the stage cache: {exc}")
            return
        data_path, meta_path = self._paths(stage, key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        blob = pickle.dumps((product, results), protocol=pickle.HIGHEST_PROTOCOL)
        meta = {"stage": stage, "key": key, "run_id": self.run_id, "seconds": round(seconds, 2),
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "hmac_sha256": _signature(secret, stage, key, blob), "bytes": len(blob)}
        for path, payload in ((data_path, blob), (meta_path, json.dumps(meta, indent=1).encode())):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, path)
        self._prune(stage)

    def _prune(self, stage: str) -> None:
        metas = sorted((self.folder / stage).glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in metas[KEEP:]:
            old.with_suffix(".pkl").unlink(missing_ok=True)
            old.unlink(missing_ok=True)

    def provenance(self) -> list[dict]:
        """Per cached stage: ``{"stage", "key", "reused", ...}``; a reused stage names the run that
        computed it (``computed_by_run``), when (``computed_at``) and its compute seconds then;
        a computed one says why it was not read back (``reason``)."""
        out = []
        for stage, key in self.keys.items():
            entry = self.found.get(stage)
            if entry is not None:
                out.append({"stage": stage, "key": key, "reused": True, "computed_by_run": entry.meta.get("run_id"),
                            "computed_at": entry.meta.get("created_at"), "compute_seconds": entry.meta.get("seconds")})
            else:
                out.append({"stage": stage, "key": key, "reused": False, "reason": self.misses.get(stage, "")})
        return out
