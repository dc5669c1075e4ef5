# SPDX-License-Identifier: AGPL-3.0-or-later
"""Parameters, the TOML config file, column mapping and activity roles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from procmine import AnalysisConfig, ChurnConfig, ConfigError, Role, load_config
from procmine.config import (
    Rework,
    Similarity,
    SimilarityLevel,
    Waits,
    format_duration,
    parse_duration,
)
from procmine.errors import LogValidationError, Problem, ProblemCode
from procmine.mapping import ColumnMapping, resolve_mapping
from procmine.roles import guess_role, guess_roles, parse_role_assignment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14d", dt.timedelta(days=14)),
        ("72h", dt.timedelta(hours=72)),
        ("30m", dt.timedelta(minutes=30)),
        ("2w", dt.timedelta(weeks=2)),
        ("1.5d", dt.timedelta(hours=36)),
        (7, dt.timedelta(days=7)),
    ],
)
def test_durations(text: str | int, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "-3d", "0d", "3 days"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("14d", "36h", "90m", "45s"):
        assert format_duration(parse_duration(text)) == text


def test_a_full_config_file(tmp_path: Path) -> None:
    path = tmp_path / "procmine.toml"
    path.write_text(
        """
[columns]
case = "Order No"
customer = "Client"

[roles]
cancel = ["Storno", "Annulliert"]
refund = "Gutschrift"

[read]
encoding = "latin-1"
skip_invalid_rows = true

[windows]
cancel = "3d"
horizon = "60d"

[similarity]
min_level = "substitute"
price_band = 0.2

[cost_model]
currency = "CHF"
return_label = 9.5

[churn]
match_on = ["prior_orders", "tenure"]
bootstrap = 500

[detectors]
enabled = ["exchange_detour"]
"""
    )
    cfg = load_config(path)
    assert cfg.columns.case == "Order No" and cfg.columns.customer == "Client"
    assert cfg.roles[Role.CANCEL] == ("Storno", "Annulliert")
    assert cfg.roles[Role.REFUND] == ("Gutschrift",)
    assert cfg.read.encoding == "latin-1" and cfg.read.skip_invalid_rows
    a = cfg.analysis
    assert a.windows.cancel == dt.timedelta(days=3) and a.windows.horizon == dt.timedelta(days=60)
    assert a.similarity.min_level is SimilarityLevel.SUBSTITUTE and a.similarity.price_band == 0.2
    assert a.cost_model.currency == "CHF" and a.cost_model.return_label == 9.5
    assert a.churn.match_on == ("prior_orders", "tenure") and a.churn.bootstrap == 500
    assert a.detectors == ("exchange_detour",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[colums]\ncase = 'x'\n", "unknown section [colums]"),
        ("[windows]\ncancel = 'soon'\n", "windows.cancel: 'soon' is not a duration"),
        ("[windows]\nfortnight = '14d'\n", "[windows] has no option 'fortnight'"),
        ("[roles]\nstorno = ['x']\n", "unknown role 'storno'"),
        ("[similarity]\nfamily_pattern = '(unclosed'\n", "not a valid regular expression"),
        ("[similarity]\nfamily_pattern = 'no-group'\n", "needs a capture group"),
        ("[churn]\nmatch_on = ['zodiac']\n", "unknown covariate"),
        ("[cost_model]\nreturn_label = -1\n", "must be >= 0"),
        ("[columns]\ncase = 3\n", "must be a column name"),
        ("not toml at all [", "config file"),
    ],
)
def test_config_mistakes_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


def test_analysis_config_validates_its_values() -> None:
    with pytest.raises(ConfigError):
        AnalysisConfig(churn=ChurnConfig(confidence=1.5))
    with pytest.raises(ConfigError):
        AnalysisConfig(similarity=Similarity(price_band=-0.1))
    data = AnalysisConfig().to_dict()
    assert data["windows"] == {
        "cancel": "14d",
        "returned": "14d",
        "lost_sale": "30d",
        "horizon": "90d",
        "contact": "7d",
    }
    for bad in (
        {"rework": Rework(structural_share=0)},
        {"rework": Rework(min_cases=0)},
        {"waits": Waits(quantile=0.2)},
        {"waits": Waits(sla={"Shipped": parse_duration("1d")})},
    ):
        with pytest.raises(ConfigError):
            AnalysisConfig(**bad)  # type: ignore[arg-type]


def test_sla_table_from_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "procmine.toml"
    path.write_text(
        '[waits]\nsla = { "Order placed->Shipped" = "48h" }\nquantile = 0.95\n'
        "[windows]\ncontact = '3d'\n",
        encoding="utf-8",
    )
    analysis = load_config(path).analysis
    assert analysis.waits.pairs() == {("Order placed", "Shipped"): parse_duration("2d")}
    assert analysis.waits.quantile == 0.95
    assert analysis.windows.contact == parse_duration("3d")
    path.write_text('[waits]\nsla = { "Shipped" = "48h" }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'Shipped' is not a transition"):
        load_config(path)


def test_a_config_with_an_sla_table_is_hashable_and_keeps_its_own_copy() -> None:
    table = {"Packed -> Shipped": parse_duration("1d")}
    config = AnalysisConfig(waits=Waits(sla=table))
    same = AnalysisConfig(waits=Waits(sla={"Packed -> Shipped": parse_duration("24h")}))
    assert config == same
    assert hash(config) == hash(same)
    assert len({config, same, AnalysisConfig()}) == 2
    table["Shipped -> Delivered"] = parse_duration("2d")  # the caller's dict changes later
    assert config.waits.pairs() == {("Packed", "Shipped"): parse_duration("1d")}


def test_column_guesses_prefer_xes_names_and_never_reuse_a_column() -> None:
    r = resolve_mapping(
        ColumnMapping(),
        ["case:concept:name", "concept:name", "Activity", "time:timestamp", "org:resource"],
    )
    assert r.get("activity") == "concept:name" and r.get("resource") == "org:resource"
    r2 = resolve_mapping(ColumnMapping(case="order"), ["order", "order_id", "status", "date"])
    assert r2.get("case") == "order" and r2.get("activity") == "status"
    assert "case" not in r2.guessed


def test_unmapped_fields_are_not_guessed_and_only_optional_ones_can_be() -> None:
    columns = ["order_id", "activity", "timestamp", "user", "customer_id"]
    guessed = resolve_mapping(ColumnMapping(), columns)
    assert guessed.get("resource") == "user" and guessed.get("customer") == "customer_id"
    mapping = ColumnMapping.from_dict({"unmapped": ["resource", "customer", "resource"]})
    assert mapping.unmapped == ("resource", "customer")
    resolved = resolve_mapping(mapping, columns)
    assert resolved.get("resource") is None and resolved.get("customer") is None
    assert resolved.get("case") == "order_id"
    assert ColumnMapping.from_dict(mapping.to_dict()) == mapping
    assert ColumnMapping().merged(mapping).unmapped == ("resource", "customer")
    with pytest.raises(ConfigError, match="'case', which is not an optional field"):
        ColumnMapping.from_dict({"unmapped": ["case"]})
    with pytest.raises(ConfigError, match="must be a list of field names"):
        ColumnMapping.from_dict({"unmapped": "customer"})
    # A missing required field names itself, so a form can show the problem beside it.
    with pytest.raises(LogValidationError) as info:
        resolve_mapping(ColumnMapping(), ["x", "y"])
    assert {p.field for p in info.value.problems} == {"case", "activity", "timestamp"}


def test_mapping_from_a_dict_refuses_unknown_keys() -> None:
    with pytest.raises(ConfigError) as info:
        ColumnMapping.from_dict({"case": "a", "cas": "b"})
    assert info.value.problems[0].value == "cas"
    with pytest.raises(LogValidationError):
        resolve_mapping(ColumnMapping(case="nope"), ["a", "b"])


@pytest.mark.parametrize(
    ("label", "role"),
    [
        ("Order placed", Role.ORDER),
        ("Bestellung aufgegeben", Role.ORDER),
        ("Payment declined", Role.PAY_FAIL),
        ("Zahlung fehlgeschlagen", Role.PAY_FAIL),
        ("Payment captured", Role.PAY),
        ("Shipped", Role.SHIP),
        ("Versand", Role.SHIP),
        ("Delivered", Role.DELIVER),
        ("Доставлен", Role.DELIVER),
        ("Order cancelled", Role.CANCEL),
        ("Storno", Role.CANCEL),
        ("Отмена заказа", Role.CANCEL),
        ("Void", Role.CANCEL),
        ("Cancelled by merchant", Role.MERCHANT_CANCEL),
        ("Item out of stock", Role.MERCHANT_CANCEL),
        ("Return requested", Role.RETURN_REQUEST),
        ("RMA opened", Role.RETURN_REQUEST),
        ("Retoure angemeldet", Role.RETURN_REQUEST),
        ("Возврат", Role.RETURN_REQUEST),
        ("Devolución solicitada", Role.RETURN_REQUEST),
        ("Return label sent", Role.RETURN_SHIP),
        ("Return received", Role.RETURN_RECEIVE),
        ("Refund issued", Role.REFUND),
        ("Credit note", Role.REFUND),
        ("Erstattung", Role.REFUND),
        ("Exchange requested", Role.EXCHANGE),
        ("Umtausch", Role.EXCHANGE),
        ("Customer complaint", Role.CONTACT),
        ("Support ticket opened", Role.CONTACT),
        ("Store credit issued", Role.VOUCHER),
        ("Refund as voucher", Role.VOUCHER),
        ("Gutschein ausgestellt", Role.VOUCHER),
        ("Gift card issued", Role.VOUCHER),
    ],
)
def test_role_guesses(label: str, role: Role) -> None:
    assert guess_role(label) is role


@pytest.mark.parametrize(
    "label",
    [
        "payment reminder",
        "failed delivery",
        "Shipping address changed",
        "pick item",
        "confirm order",
        "reorder item",
        "Coupon applied",
        "Voucher redeemed",
    ],
)
def test_labels_that_must_not_get_a_role(label: str) -> None:
    assert guess_role(label) is None


def test_role_overrides_replace_and_clear() -> None:
    roles = guess_roles(["Order placed", "Order cancelled", "Storno", "Gift wrap"])
    assert roles.labels(Role.CANCEL) == ("Order cancelled", "Storno")
    changed = roles.with_overrides({Role.CANCEL: ["Storno"], Role.ORDER: []})
    assert changed.labels(Role.CANCEL) == ("Storno",)
    assert not changed.has(Role.ORDER)
    assert "Order cancelled" in changed.unmapped and "Storno" not in changed.guessed
    assert parse_role_assignment("refund = Gutschrift ") == (Role.REFUND, "Gutschrift")
    with pytest.raises(ConfigError):
        parse_role_assignment("refund")


def test_problems_serialise_with_their_code() -> None:
    p = Problem(ProblemCode.BLANK_VALUE, "blank", column="c", row=3, line=4, count=2)
    assert p.to_dict() == {
        "code": "blank_value",
        "message": "blank",
        "column": "c",
        "row": 3,
        "line": 4,
        "value": None,
        "count": 2,
        "severity": "error",
        "field": None,
    }
    err = LogValidationError([p, Problem(ProblemCode.EMPTY_LOG, "empty")])
    assert str(err) == "blank\n  - empty"
