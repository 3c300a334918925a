"""Who may sign: the RACI role check and the independence check (SR 11-7 effective challenge),
shared by ``qmtl-research override`` and ``qmtl-research approve``.

* **Role**: a decision under a RACI activity needs a role whose letter for that activity is
  ``A``, ``R`` or ``A/R`` (``params/governance/raci.yaml``). Overrides are signed under the
  activity :data:`OVERRIDE_ACTIVITY`.
* **Independence**: for the activities listed under ``independent_review`` in the RACI file,
  the signer (``--actor``) must not be the model's ``owner`` nor one of its ``developer`` s
  (the strategy's model card). Names are compared case-insensitively, blanks collapsed; a
  declared ``"Name (team)"`` also matches the actor ``"Name"``. A model whose card declares
  neither owner nor developer cannot be shown to be challenged independently: the decision is
  refused until the card declares them.

Every refusal is a :class:`SignOffRefused` (exit code 2 on the command line) naming the rule,
the person and what to do; nothing is written.

Use::

    from qmtl_research.governance.signoff import check_signer
    role, letter = check_signer(gov, "Override approval", role="Risk", actor="Kim", strategy_id="demo",
                                action="approve an override of run ...")
"""
from __future__ import annotations

import re
from pathlib import Path

from qmtl_research.config import ModelCard, list_strategies, load_model_card, load_strategy, load_strategy_card
from qmtl_research.errors import StoreError
from qmtl_research.paths import params_dir
from qmtl_research.governance.raci import Governance

#: the RACI activity an override is signed under
OVERRIDE_ACTIVITY = "Override approval"


class SignOffRefused(StoreError):
    """The governance rules do not allow this person / role to sign; nothing was written."""


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def same_person(actor: str, declared: str) -> bool:
    """True when ``actor`` names the person ``declared`` (case and blanks ignored; a declared
    ``"Name (team)"`` also matches ``"Name"``)."""
    a, d = _norm(actor), _norm(declared)
    return bool(a) and (a == d or a == re.sub(r"\s*\(.*\)\s*$", "", d))


def _shown(path: Path) -> str:
    """``path`` relative to the project (no machine path in messages that may reach a report)."""
    try:
        return str(path.resolve().relative_to(params_dir().parent.resolve()))
    except ValueError:
        return path.name


def model_card_of(strategy_id: str) -> tuple[Path | None, ModelCard | None]:
    """The model card of ``strategy_id`` and its path: the card its strategy file names (checked to
    be bound to it), else a card in ``params/model_cards/`` whose ``strategy_id`` matches; (None,
    None) when there is none (e.g. runs imported from QMTL exports)."""
    folder = params_dir() / "model_cards"
    if strategy_id in list_strategies():
        cfg = load_strategy(strategy_id)
        card = load_strategy_card(cfg)
        given = Path(cfg.model_card)
        path = given if given.suffix in (".yaml", ".yml") else next(
            (p for ext in (".yaml", ".yml") if (p := folder / f"{cfg.model_card}{ext}").is_file()), None)
        return path, card
    for path in sorted(folder.glob("*.y*ml")):
        card = load_model_card(path)
        if card.strategy_id == strategy_id:
            return path, card
    return None, None


def check_role(gov: Governance, activity: str, role: str | None, what: str) -> tuple[str, str]:
    """(canonical role, its letter) when ``role`` may sign under ``activity``; else
    :class:`SignOffRefused`. ``what``: the decision in words (for the message)."""
    signers = gov.signers(activity)
    who = ", ".join(f"{r} ({x})" for r, x in signers.items())
    if role is None or not role.strip():
        raise SignOffRefused(f"RACI rule: {what} needs --role (the RACI role signed under)", where="--role",
                             fix=f"'{activity}' is signed by {who} ({gov.raci_file})")
    canonical = gov.raci.canonical_role(role)
    if canonical is None:
        raise SignOffRefused(f"RACI rule: unknown role '{role}'", where=f"--role; roles of {gov.raci_file}",
                             fix=f"use one of: {', '.join(gov.raci.roles)}; '{activity}' is signed by {who}")
    letter = gov.raci.letters(activity)[canonical]
    if canonical not in signers:
        raise SignOffRefused(f"RACI rule: role {canonical} is '{letter}' for '{activity}' and may not {what}",
                             where=f"--role {role}; {gov.raci_file}", fix=f"the roles that may sign: {who}")
    return canonical, letter


def check_independence(gov: Governance, activity: str, actor: str, strategy_id: str, what: str,
                       card: ModelCard | None = None, card_file: str | None = None) -> dict[str, object]:
    """Refuse (:class:`SignOffRefused`) when ``activity`` needs independent review and ``actor``
    is the model's owner or developer, or the card declares neither. Returns what was checked
    (recorded with the decision): ``{"independent_review": bool, "owner": ..., "developer": [...]}``.

    ``card``: the model card to check against (default: :func:`model_card_of`)."""
    if activity not in gov.raci.independent_review:
        return {"independent_review": False}
    path = None
    if card is None:
        path, card = model_card_of(strategy_id)
    where = card_file or (_shown(path) if path else "params/model_cards/")
    if card is None:
        raise SignOffRefused(
            f"independence rule (SR 11-7 effective challenge): {what} is an independent review, and no model card "
            f"declares the owner and developer of '{strategy_id}'", where=where,
            fix=f"write a model card with strategy_id: {strategy_id}, owner and developer "
                "(`qmtl-research strategy new` writes one for a new strategy)")
    if card.owner is None and not card.developers:
        raise SignOffRefused(
            f"independence rule (SR 11-7 effective challenge): {what} is an independent review, and the model card "
            f"of '{strategy_id}' declares neither owner nor developer", where=f"{where} fields 'owner', 'developer'",
            fix="declare the model's owner and developer in its model card")
    for label, name in [("owner", card.owner)] + [("developer", d) for d in card.developers]:
        if name and same_person(actor, name):
            raise SignOffRefused(
                f"independence rule (SR 11-7 effective challenge): {actor} is the {label} of '{strategy_id}' "
                f"and may not {what}", where=f"--actor {actor}; {where} field '{label}'",
                fix=f"a person independent of the model's development and ownership signs (roles allowed for "
                    f"'{activity}': {', '.join(gov.signers(activity))})")
    return {"independent_review": True, "owner": card.owner, "developer": card.developers}


def check_signer(gov: Governance, activity: str, *, role: str | None, actor: str, strategy_id: str, what: str,
                 card: ModelCard | None = None) -> tuple[str, str, dict[str, object]]:
    """Both checks: (canonical role, letter, independence record)."""
    canonical, letter = check_role(gov, activity, role, what)
    return canonical, letter, check_independence(gov, activity, actor, strategy_id, what, card=card)
