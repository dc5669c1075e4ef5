# SPDX-License-Identifier: AGPL-3.0-or-later
"""Flatten an OCEL 2.0 log onto the order object type, keeping the customer and the items.

An object-centric log has no single case notion. procmine flattens it on the object type the
user names as the order (``--ocel-case-type``): every event related to an order becomes an
event of that order's case. The customer of an order comes from an object-to-object relation
(``customer -places-> order``) or, failing that, from an event related to both the order and
a customer. The products of an order come from O2O chains (``order -comprises-> item -is a->
product``), direct O2O links, or events related to both, and feed the product similarity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from procmine._sql import execute, fetch_all, fetch_one, quote_ident, quote_literal
from procmine.config import ReadOptions
from procmine.errors import LogValidationError, Problem, ProblemCode
from procmine.io._pm4py import OcelFrames
from procmine.io.tabular import RawTable
from procmine.mapping import ResolvedMapping

__all__ = ["OcelFlattening", "flatten_ocel", "guess_object_type"]

_PATTERNS = {
    "case": r"^orders?$|order",
    "customer": r"customer|client|buyer|shopper|kunde",
    "product": r"^products?$|product|article|sku|material",
    "item": r"^items?$|item|line|position",
    "resource": r"employee|staff|agent|worker|user|resource",
}
_AMOUNT_ATTRS = ("price", "amount", "total", "value", "order_value", "gmv")
_CATEGORY_ATTRS = ("category", "product_category", "type", "group")


@dataclass(frozen=True, slots=True)
class OcelFlattening:
    """The flattened raw event table, its mapping, the items table and what was chosen."""

    raw: RawTable
    mapping: ResolvedMapping
    items_table: str | None
    case_type: str
    customer_type: str | None
    product_type: str | None
    warnings: tuple[Problem, ...]


def guess_object_type(types: Sequence[str], role: str) -> str | None:
    """The object type that most likely plays ``role`` (case/customer/product/item/resource).

    Examples
    --------
    >>> guess_object_type(["items", "orders", "customers"], "case")
    'orders'
    >>> guess_object_type(["Invoice", "Payment"], "customer") is None
    True
    """
    pattern = re.compile(_PATTERNS[role], re.IGNORECASE)
    exact = [t for t in types if re.fullmatch(r"(?i)" + role + "s?", t)]
    if exact:
        return exact[0]
    matches = [t for t in types if pattern.search(t)]
    return sorted(matches, key=len)[0] if matches else None


def _pick(
    types: Sequence[str], given: str | None, role: str, flag: str, required: bool
) -> tuple[str | None, list[Problem]]:
    if given is not None:
        if given not in types:
            return None, [
                Problem(
                    ProblemCode.UNKNOWN_OBJECT_TYPE,
                    f"{flag} {given!r}: the log has no such object type; types: "
                    f"{', '.join(sorted(types))}",
                    value=given,
                )
            ]
        return given, []
    guessed = guess_object_type(types, role)
    if guessed is None and required:
        return None, [
            Problem(
                ProblemCode.UNKNOWN_OBJECT_TYPE,
                f"cannot tell which object type is the {role}; name it with {flag} "
                f"(types: {', '.join(sorted(types))})",
            )
        ]
    return guessed, []


def _register(con: Any, name: str, frame: pd.DataFrame) -> None:
    con.register(name, frame)


def flatten_ocel(con: Any, frames: OcelFrames, options: ReadOptions, prefix: str) -> OcelFlattening:
    """Flatten ``frames`` into raw tables named after ``prefix`` (see the module docstring)."""
    if frames.events.empty:
        raise LogValidationError([Problem(ProblemCode.EMPTY_LOG, "the OCEL log has no events")])
    types = sorted(str(t) for t in frames.objects["ocel:type"].dropna().unique())
    problems: list[Problem] = []
    case_type, p1 = _pick(types, options.ocel_case_type, "case", "--ocel-case-type", True)
    customer_type, p2 = _pick(
        types, options.ocel_customer_type, "customer", "--ocel-customer-type", False
    )
    product_type, p3 = _pick(
        types, options.ocel_product_type, "product", "--ocel-product-type", False
    )
    problems += p1 + p2 + p3
    if problems:
        raise LogValidationError(problems)
    assert case_type is not None
    item_type = guess_object_type([t for t in types if t not in {case_type, product_type}], "item")
    resource_type = guess_object_type(
        [t for t in types if t not in {case_type, customer_type, product_type, item_type}],
        "resource",
    )

    ev, ob, rel, o2o = (f"{prefix}_{n}" for n in ("ev", "ob", "rel", "o2o"))
    _register(con, ev, frames.events[["ocel:eid", "ocel:activity", "ocel:timestamp"]])
    obj_cols = [
        c
        for c in frames.objects.columns
        if c in ("ocel:oid", "ocel:type", *_AMOUNT_ATTRS, *_CATEGORY_ATTRS)
    ]
    _register(con, ob, frames.objects[obj_cols])
    _register(con, rel, frames.relations[["ocel:eid", "ocel:oid", "ocel:type"]])
    o2o_frame = (
        frames.o2o
        if not frames.o2o.empty
        else pd.DataFrame(
            {"ocel:oid": pd.Series([], dtype=str), "ocel:oid_2": pd.Series([], dtype=str)}
        )
    )
    _register(con, o2o, o2o_frame[["ocel:oid", "ocel:oid_2"]])
    q = quote_ident
    warnings: list[Problem] = []

    # Undirected O2O pairs with both types known: relations are stored in one direction only,
    # and which one varies between logs ("customer places order" vs "order for customer").
    pairs = f"{prefix}_pairs"
    execute(
        con,
        f"CREATE OR REPLACE TEMP TABLE {q(pairs)} AS "
        f'WITH p AS (SELECT "ocel:oid" AS a, "ocel:oid_2" AS b FROM {q(o2o)} '
        f'UNION SELECT "ocel:oid_2", "ocel:oid" FROM {q(o2o)}) '
        f'SELECT p.a, ta."ocel:type" AS ta, p.b, tb."ocel:type" AS tb FROM p '
        f'JOIN {q(ob)} ta ON ta."ocel:oid" = p.a JOIN {q(ob)} tb ON tb."ocel:oid" = p.b',
    )

    amount_attr = next(
        (
            a
            for a in _AMOUNT_ATTRS
            if a in frames.objects.columns
            and frames.objects.loc[frames.objects["ocel:type"] == case_type, a].notna().any()
        ),
        None,
    )
    customer_sql = "CAST(NULL AS VARCHAR)"
    if customer_type is not None:
        customer_sql = (
            f'coalesce((SELECT min(p.b) FROM {q(pairs)} p WHERE p.a = r."ocel:oid" '
            f"AND p.tb = {quote_literal(customer_type)}), "
            f'(SELECT min(r2."ocel:oid") FROM {q(rel)} r1 JOIN {q(rel)} r2 '
            f'ON r1."ocel:eid" = r2."ocel:eid" WHERE r1."ocel:oid" = r."ocel:oid" '
            f'AND r2."ocel:type" = {quote_literal(customer_type)}))'
        )
    else:
        warnings.append(
            Problem(
                ProblemCode.NO_CUSTOMER_LINK,
                "no customer object type found, so orders cannot be linked to customers and "
                "the cross-order detectors find nothing; name it with --ocel-customer-type",
                severity="warning",
            )
        )
    amount_sql = (
        f"(SELECT CAST(o.{q(amount_attr)} AS DOUBLE) FROM {q(ob)} o "
        f'WHERE o."ocel:oid" = r."ocel:oid")'
        if amount_attr
        else "CAST(NULL AS DOUBLE)"
    )
    resource_sql = (
        f'(SELECT min(x."ocel:oid") FROM {q(rel)} x WHERE x."ocel:eid" = e."ocel:eid" '
        f'AND x."ocel:type" = {quote_literal(resource_type)})'
        if resource_type
        else "CAST(NULL AS VARCHAR)"
    )
    flat = f"{prefix}_flat"
    execute(
        con,
        f"CREATE OR REPLACE TEMP TABLE {q(flat)} AS "
        f'WITH orders AS (SELECT DISTINCT r."ocel:oid" FROM {q(rel)} r '
        f'  WHERE r."ocel:type" = {quote_literal(case_type)}), '
        f'cust AS (SELECT r."ocel:oid" AS oid, {customer_sql} AS customer, {amount_sql} AS amount '
        f"  FROM orders r) "
        f"SELECT CAST(row_number() OVER "
        f'(ORDER BY e."ocel:timestamp", e."ocel:eid", r."ocel:oid") - 1 AS BIGINT) AS __row, '
        f'r."ocel:oid" AS "case", e."ocel:activity" AS activity, '
        f'e."ocel:timestamp" AS "timestamp", c.customer AS customer, '
        # The order value belongs on the order's first event only, so that summing amounts
        # per case does not multiply it by the number of events.
        f'CASE WHEN row_number() OVER (PARTITION BY r."ocel:oid" '
        f'ORDER BY e."ocel:timestamp", e."ocel:eid") = 1 '
        f"THEN c.amount END AS amount, {resource_sql} AS resource "
        f'FROM {q(rel)} r JOIN {q(ev)} e ON e."ocel:eid" = r."ocel:eid" '
        f'JOIN cust c ON c.oid = r."ocel:oid" '
        f'WHERE r."ocel:type" = {quote_literal(case_type)}',
    )
    n = fetch_one(con, f"SELECT count(*) FROM {q(flat)}")[0]
    if n == 0:
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.EMPTY_LOG,
                    f"no event of the OCEL log is related to an object of type {case_type!r}",
                    value=case_type,
                )
            ]
        )
    types_map = {str(r[0]): str(r[1]) for r in fetch_all(con, f"DESCRIBE {q(flat)}")}
    columns = {
        "case": "case",
        "activity": "activity",
        "timestamp": "timestamp",
        "amount": "amount",
        "resource": "resource",
    }
    if customer_type is not None:
        columns["customer"] = "customer"
        linked = fetch_one(
            con,
            f'SELECT count(DISTINCT "case") FILTER (WHERE customer IS NOT NULL), '
            f'count(DISTINCT "case") FROM {q(flat)}',
        )
        if linked[0] == 0:
            warnings.append(
                Problem(
                    ProblemCode.NO_CUSTOMER_LINK,
                    f"no {case_type!r} object is related to a {customer_type!r} object (neither "
                    "object-to-object nor through a shared event)",
                    severity="warning",
                )
            )
    items = _items(con, prefix, pairs, rel, ob, case_type, item_type, product_type, frames)
    for name in (ev, ob, rel, o2o):
        con.unregister(name)
    execute(con, f"DROP TABLE IF EXISTS {q(pairs)}")
    mapping = ResolvedMapping(columns=columns, guessed=frozenset())
    return OcelFlattening(
        raw=RawTable(name=flat, types=types_map, row_col="__row", line_offset=None),
        mapping=mapping,
        items_table=items,
        case_type=case_type,
        customer_type=customer_type,
        product_type=product_type,
        warnings=tuple(warnings),
    )


def _items(
    con: Any,
    prefix: str,
    pairs: str,
    rel: str,
    ob: str,
    case_type: str,
    item_type: str | None,
    product_type: str | None,
    frames: OcelFrames,
) -> str | None:
    """Products of each order: order-product O2O, order-item-product chains, shared events."""
    if product_type is None and item_type is None:
        return None
    q = quote_ident
    lit = quote_literal
    parts: list[str] = []
    if product_type is not None:
        parts.append(
            f"SELECT a AS case_id, b AS product, NULL AS via FROM {q(pairs)} "
            f"WHERE ta = {lit(case_type)} AND tb = {lit(product_type)}"
        )
        if item_type is not None:
            parts.append(
                f"SELECT p1.a, p2.b, p1.b FROM {q(pairs)} p1 JOIN {q(pairs)} p2 ON p1.b = p2.a "
                f"WHERE p1.ta = {lit(case_type)} AND p1.tb = {lit(item_type)} "
                f"AND p2.tb = {lit(product_type)}"
            )
        parts.append(
            f'SELECT DISTINCT r1."ocel:oid", r2."ocel:oid", NULL FROM {q(rel)} r1 '
            f'JOIN {q(rel)} r2 ON r1."ocel:eid" = r2."ocel:eid" '
            f'WHERE r1."ocel:type" = {lit(case_type)} AND r2."ocel:type" = {lit(product_type)}'
        )
    else:
        # Items without product objects: each item is its own product.
        parts.append(
            f"SELECT a, b, b FROM {q(pairs)} "
            f"WHERE ta = {lit(case_type)} AND tb = {lit(item_type or '')}"
        )
    price_attr = next((a for a in _AMOUNT_ATTRS if a in frames.objects.columns), None)
    category_attr = next((a for a in _CATEGORY_ATTRS if a in frames.objects.columns), None)
    price = (
        f"coalesce((SELECT CAST(o.{q(price_attr)} AS DOUBLE) FROM {q(ob)} o "
        f'WHERE o."ocel:oid" = l.via), '
        f"(SELECT CAST(o.{q(price_attr)} AS DOUBLE) FROM {q(ob)} o "
        f'WHERE o."ocel:oid" = l.product))'
        if price_attr
        else "CAST(NULL AS DOUBLE)"
    )
    category = (
        f"(SELECT CAST(o.{q(category_attr)} AS VARCHAR) FROM {q(ob)} o "
        f'WHERE o."ocel:oid" = l.product)'
        if category_attr
        else "CAST(NULL AS VARCHAR)"
    )
    items = f"{prefix}_items"
    execute(
        con,
        f"CREATE OR REPLACE TEMP TABLE {q(items)} AS "
        f"WITH l(order_id, product, via) AS ({' UNION ALL '.join(parts)}) "
        f"SELECT DISTINCT CAST(l.order_id AS VARCHAR) AS case_id, "
        f"CAST(l.product AS VARCHAR) AS product, "
        f"CAST(NULL AS VARCHAR) AS family, {category} AS category, {price} AS price FROM l",
    )
    return items
