# SPDX-License-Identifier: AGPL-3.0-or-later
"""Activity roles: what an activity label *means* for the order lifecycle.

Detectors reason about roles (``cancel``, ``return_request``, ``refund``, ...), never about raw
labels, because every shop names its steps differently ("Order cancelled", "Storno",
"отмена заказа"). Roles are guessed from the labels with synonym patterns in several
languages, shown to the user, and can always be set explicitly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from procmine.errors import ConfigError, Problem, ProblemCode

__all__ = ["Role", "RoleMap", "guess_role", "guess_roles", "parse_role_assignment"]


class Role(StrEnum):
    """The lifecycle roles an activity can play (DESIGN.md section 1)."""

    ORDER = "order"
    PAY = "pay"
    PAY_FAIL = "pay_fail"
    SHIP = "ship"
    DELIVER = "deliver"
    CANCEL = "cancel"
    #: a cancellation by the merchant or the system (stock-out, fraud): never a customer's detour
    MERCHANT_CANCEL = "merchant_cancel"
    RETURN_REQUEST = "return_request"
    RETURN_SHIP = "return_ship"
    RETURN_RECEIVE = "return_receive"
    REFUND = "refund"
    EXCHANGE = "exchange"
    CONTACT = "contact"
    #: a cancel or return settled with a voucher, store credit or bonus instead of money
    VOUCHER = "voucher"


@dataclass(frozen=True, slots=True)
class _Rule:
    role: Role
    match: re.Pattern[str]
    unless: re.Pattern[str] | None = None


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _group(*words: str) -> str:
    return "(" + "|".join(words) + ")"


# Synonyms, kept short and cheap (English, German, Russian, Spanish, French, Dutch).
_FAIL = _group(
    "fail",
    "declin",
    "reject",
    "refus",
    "error",
    "bounce",
    "unsuccessful",
    "denied",
    "fehlgeschlagen",
    "abgelehnt",
    "отклон",
    "ошибк",
    "неуспеш",
    "rechaz",
    "échou",
    "echou",
)
_PAYWORD = _group("pay", "zahlung", "оплат", "плат[её]ж", "pago", "paiement", "charge", "card")
_RETURNWORD = _group("return", "retour", "rücksend", "rucksend", "возврат", "devoluc", r"\brma\b")
_MERCHANT = _group(
    "merchant", "seller", "system", "shop", "store", "händler", "магазин", "vendedor"
)

# Order matters: the first rule that matches wins, so specific roles come before general ones
# ("payment failed" before "payment", "return received" before "return", "order cancelled"
# before "order ..."). A user can always override a guess.
_RULES: tuple[_Rule, ...] = (
    _Rule(Role.PAY_FAIL, _rx(f"{_PAYWORD}.*{_FAIL}", f"{_FAIL}.*{_PAYWORD}")),
    _Rule(
        Role.MERCHANT_CANCEL,
        _rx(
            "out of stock",
            "stock.?out",
            "sold out",
            "fraud",
            "nicht (auf|vor)rätig",
            "нет в наличии",
            "мошенн",
            "agotado",
            "rupture",
            f"(cancel|storno|annul|отмен).*{_MERCHANT}",
            f"{_MERCHANT}.*(cancel|storno)",
        ),
    ),
    _Rule(
        Role.EXCHANGE,
        _rx("exchange", "swap", "umtausch", "tausch", "обмен", "cambio", "échange", "echange"),
    ),
    _Rule(
        Role.VOUCHER,
        _rx(
            "voucher",
            r"store.?credit",
            r"gift.?card",
            "coupon",
            r"\bbonus",
            "gutschein",
            r"bon d.achat",
            "tegoed",
            "cup[oó]n",
            "сертификат",
            "купон",
            "бонус",
        ),
        unless=_rx("redeem", "appl", "einl[oö]s", r"\bused\b", "погаш"),
    ),
    _Rule(
        Role.REFUND,
        _rx(
            "refund",
            "reimburs",
            "credit.?note",
            "money back",
            "chargeback",
            "erstatt",
            "gutschrift",
            "возврат (денег|средств|оплаты)",
            "возмещ",
            "reembols",
            "rembours",
            "terugbetal",
        ),
    ),
    _Rule(
        Role.RETURN_RECEIVE,
        _rx(
            _RETURNWORD
            + ".*"
            + _group(
                "receiv",
                "arriv",
                "deliver",
                "inspect",
                "check.?in",
                "erhalten",
                "eingang",
                "получ",
                "recibid",
                "reçu",
                "recu",
                "ontvangen",
            ),
            f"(receiv|arriv|eingang|получ).*{_RETURNWORD}",
        ),
    ),
    _Rule(
        Role.RETURN_SHIP,
        _rx(
            _RETURNWORD
            + ".*"
            + _group(
                "ship",
                "sent",
                "send",
                "dispatch",
                "pick.?up",
                "label",
                "transit",
                "carrier",
                "versand",
                "verschickt",
                "отправ",
                "enviad",
                "expédi",
            ),
            f"(ship|sent|send|dispatch).*{_RETURNWORD}",
        ),
    ),
    _Rule(Role.RETURN_REQUEST, _rx(_RETURNWORD, "devolv", "renvoi", "retourn")),
    _Rule(
        Role.CANCEL,
        _rx("cancel", "storn", r"\bvoid", "abort", "annul", "widerruf", "отмен", "anula"),
    ),
    _Rule(
        Role.DELIVER,
        _rx(
            "deliver",
            "received by customer",
            "zugestellt",
            "geliefert",
            "доставлен",
            "вручен",
            "entregad",
            "livr",
            "bezorgd",
        ),
        unless=_rx(
            _FAIL,
            "attempt",
            r"\bcarrier\b",  # delivered to the carrier: shipped (an order table's step)
            "redeliver",
            "versuch",
            "попытк",
            "change",
            "indicator",
            "date",
            "schedul",
            "address",
            "note",
            "plan",
        ),
    ),
    _Rule(
        Role.SHIP,
        _rx(
            r"\bship",
            "dispatch",
            r"\bsent\b",
            r"\bsend (the )?(package|parcel|order|goods|item|shipment)",
            "versand",
            "versendet",
            "verschickt",
            "отправ",
            "отгруз",
            "enviad",
            "expédi",
            "expedi",
            "handed (over )?to carrier",
            r"deliver(ed)? (to )?(the )?carrier",
            "fulfil",
        ),
        unless=_rx("reminder", "notif", "mahnung", "напомин", "address", "adress", "адрес"),
    ),
    _Rule(
        Role.PAY,
        _rx(
            r"\bpay",
            "paid",
            "payment",
            "capture",
            "charged",
            "zahlung",
            "bezahlt",
            "оплат",
            "плат[её]ж",
            r"\bpago",
            "pagad",
            "paiement",
            "payé",
            "betaal",
        ),
        unless=_rx(
            "reminder",
            "request",
            "mahnung",
            "erinnerung",
            "напомин",
            "recordatorio",
            "rappel",
            "due",
            "overdue",
            "term",
            "block",
            "method",
            "change",
            "schedul",
            "plan",
        ),
    ),
    _Rule(
        Role.CONTACT,
        _rx(
            "contact",
            "complain",
            r"\bcall\b",
            "support ticket",
            "ticket (opened|created|raised)",
            "open(ed)? (a )?ticket",
            "e-?mail",
            "chat",
            "support",
            "enquir",
            "inquir",
            "beschwerde",
            "anruf",
            "kontakt",
            "жалоб",
            "обращен",
            "звон",
            "queja",
            "reclam",
            "llamada",
            "réclamation",
        ),
    ),
    _Rule(
        Role.ORDER,
        _rx(
            r"\b(place|placed|create|created|new|submit|submitted)\b.*\border\b",
            r"\border\b.*\b(placed|created|received|submitted|new|opened)\b",
            "^order$",
            # the first step of an order table's steps (procmine.io.steps): placed_at, ...
            "^(placed|created|submitted)$",
            "checkout",
            "check-out",
            r"^purchase(d)?$",
            r"\bpurchase (made|completed|placed)",
            "bestellung",
            "bestellt",
            "заказ (создан|оформлен|размещ)",
            "оформлен",
            "pedido",
            "commande",
        ),
        unless=_rx("purchase order", "requisition", "confirmation", r"\bitem\b"),
    ),
)


def guess_role(label: str) -> Role | None:
    """The role a label most likely plays, or ``None`` when no pattern matches.

    Examples
    --------
    >>> guess_role("Order Cancelled"), guess_role("Payment declined"), guess_role("Storno")
    (<Role.CANCEL: 'cancel'>, <Role.PAY_FAIL: 'pay_fail'>, <Role.CANCEL: 'cancel'>)
    >>> guess_role("Return received"), guess_role("возврат")
    (<Role.RETURN_RECEIVE: 'return_receive'>, <Role.RETURN_REQUEST: 'return_request'>)
    >>> guess_role("Place order")
    <Role.ORDER: 'order'>
    >>> guess_role("failed delivery") is None, guess_role("payment reminder") is None
    (True, True)
    """
    for rule in _RULES:
        if rule.match.search(label) and not (rule.unless and rule.unless.search(label)):
            return rule.role
    return None


@dataclass(frozen=True, slots=True)
class RoleMap:
    """Which activity labels play which role, and which of those were guessed.

    A label has at most one role; a role can have several labels.

    Examples
    --------
    >>> rm = guess_roles(["Order placed", "Order cancelled", "Shipped", "Gift wrap"])
    >>> rm.labels(Role.CANCEL)
    ('Order cancelled',)
    >>> rm.unmapped
    ('Gift wrap',)
    """

    by_label: Mapping[str, Role]
    guessed: frozenset[str]
    activities: tuple[str, ...]

    def labels(self, role: Role) -> tuple[str, ...]:
        """The labels that play ``role``, sorted."""
        return tuple(sorted(label for label, r in self.by_label.items() if r == role))

    def role_of(self, label: str) -> Role | None:
        """The role of ``label``, or ``None``."""
        return self.by_label.get(label)

    def has(self, role: Role) -> bool:
        """Whether any label plays ``role``."""
        return role in self.by_label.values()

    @property
    def unmapped(self) -> tuple[str, ...]:
        """Activities without a role, sorted."""
        return tuple(sorted(a for a in self.activities if a not in self.by_label))

    def to_dict(self) -> dict[str, list[str]]:
        """``{role: [labels]}`` for every role that has labels (the findings-document form)."""
        return {role.value: list(self.labels(role)) for role in Role if self.has(role)}

    def with_overrides(self, overrides: Mapping[Role, Sequence[str]]) -> RoleMap:
        """A copy where each role in ``overrides`` has exactly the given labels.

        An empty sequence clears the role. Labels not in the log raise :class:`ConfigError`
        (with the closest real labels as a hint), since a typo would silently disable a
        detector otherwise.
        """
        problems: list[Problem] = []
        known = set(self.activities)
        for role, labels in overrides.items():
            for label in labels:
                if label not in known:
                    close = difflib.get_close_matches(label, self.activities, n=3, cutoff=0.5)
                    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                    problems.append(
                        Problem(
                            ProblemCode.UNKNOWN_LABEL,
                            f"--role {role.value}={label}: no activity {label!r} in the log{hint}",
                            value=label,
                        )
                    )
        if problems:
            raise ConfigError(problems)
        by_label = dict(self.by_label)
        guessed = set(self.guessed)
        for role, labels in overrides.items():
            for label in [lb for lb, r in by_label.items() if r == role]:
                del by_label[label]
                guessed.discard(label)
            for label in labels:
                by_label[label] = role
                guessed.discard(label)
        return RoleMap(by_label=by_label, guessed=frozenset(guessed), activities=self.activities)


def guess_roles(activities: Iterable[str]) -> RoleMap:
    """Guess a role for every distinct activity label (see :func:`guess_role`)."""
    acts = tuple(sorted(set(activities)))
    by_label: dict[str, Role] = {}
    for label in acts:
        role = guess_role(label)
        if role is not None:
            by_label[label] = role
    return RoleMap(by_label=by_label, guessed=frozenset(by_label), activities=acts)


def parse_role_assignment(text: str) -> tuple[Role, str]:
    """Parse ``ROLE=LABEL`` as given to ``--role`` (an empty label clears the role).

    Examples
    --------
    >>> parse_role_assignment("cancel=Storno")
    (<Role.CANCEL: 'cancel'>, 'Storno')
    """
    role_text, sep, label = text.partition("=")
    if not sep:
        raise ConfigError(
            [
                Problem(
                    ProblemCode.INVALID_OPTION,
                    f"--role expects ROLE=LABEL, got {text!r}",
                    value=text,
                )
            ]
        )
    return parse_role(role_text), label.strip()


def parse_role(text: str) -> Role:
    """The :class:`Role` named ``text`` (case-insensitive), or a :class:`ConfigError`."""
    key = text.strip().lower()
    try:
        return Role(key)
    except ValueError:
        raise ConfigError(
            [
                Problem(
                    ProblemCode.UNKNOWN_ROLE,
                    f"unknown role {text!r}; roles are: {', '.join(r.value for r in Role)}",
                    value=text,
                )
            ]
        ) from None
