"""``audit_diff``: a pure function, tested without the database."""

from __future__ import annotations

from payor.audit.canonical import json_safe
from payor.audit.diff import ROOT, DiffLine, DiffValue, audit_diff, diff_counts, display
from payor.core.money import Money


def table(before, after) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (line.path, line.kind, line.before and line.before.text, line.after and line.after.text)
        for line in audit_diff(before, after)
    ]


def test_a_limit_change_reads_field_by_field_with_the_amount_formatted():
    user = "0190f0c2-6d1e-7c4b-9a55-3f3c1b2a4d5e"
    before = json_safe({"user_id": user, "role": "TREASURER", "approval_limit": Money.parse("10000.00", "USD")})
    after = json_safe({"user_id": user, "role": "TREASURER", "approval_limit": Money.parse("50000.00", "USD")})
    assert table(before, after) == [
        ("approval_limit", "changed", "$10,000.00", "$50,000.00"),
        ("role", "unchanged", "TREASURER", "TREASURER"),
        ("user_id", "unchanged", user, user),  # ids in full, never shortened
    ]
    limit = audit_diff(before, after)[0]
    assert limit.before == DiffValue("$10,000.00", "money")
    assert audit_diff(before, after)[2].after.kind == "id"


def test_a_creation_is_all_added_and_a_deletion_all_removed():
    record = {"role": "AUDITOR", "vendor_id": None, "bootstrap": True}
    assert table(None, record) == [
        ("bootstrap", "added", None, "true"),
        ("role", "added", None, "AUDITOR"),
        ("vendor_id", "added", None, "null"),
    ]
    assert table(record, None) == [
        ("bootstrap", "removed", "true", None),
        ("role", "removed", "AUDITOR", None),
        ("vendor_id", "removed", "null", None),
    ]
    assert audit_diff(None, None) == []


def test_nested_objects_and_lists_flatten_to_dotted_paths_with_numeric_index_order():
    stage = {"role": "PROJECT_MANAGER", "signers_required": 1, "signers_of": 1}
    before = {"version": 1, "bands": [{"upper": {"amount": "10000.00", "currency": "USD"}, "stages": [stage]}]}
    after = {
        "version": 2,
        "bands": [
            {"upper": {"amount": "20000.00", "currency": "USD"}, "stages": [stage, {**stage, "role": "TREASURER"}]},
        ]
        + [{"upper": None, "stages": []}] * 10,
    }
    lines = table(before, after)
    assert lines[:8] == [
        ("bands[0].stages[0].role", "unchanged", "PROJECT_MANAGER", "PROJECT_MANAGER"),
        ("bands[0].stages[0].signers_of", "unchanged", "1", "1"),
        ("bands[0].stages[0].signers_required", "unchanged", "1", "1"),
        ("bands[0].stages[1].role", "added", None, "TREASURER"),
        ("bands[0].stages[1].signers_of", "added", None, "1"),
        ("bands[0].stages[1].signers_required", "added", None, "1"),
        ("bands[0].upper", "changed", "$10,000.00", "$20,000.00"),
        ("bands[1].stages", "added", None, "[]"),
    ]
    paths = [line[0] for line in lines]
    assert paths.index("bands[2].upper") < paths.index("bands[10].upper")  # 2 before 10
    assert lines[-1] == ("version", "changed", "1", "2")


def test_type_changes_and_emptiness_stay_visible():
    assert table({"tags": []}, {"tags": ["urgent"]}) == [
        ("tags", "removed", "[]", None),
        ("tags[0]", "added", None, "urgent"),
    ]
    assert table({"memo": ""}, {"memo": None}) == [("memo", "changed", '""', "null")]
    assert table({"count": 1}, {"count": True}) == [("count", "changed", "1", "true")]
    assert table({"x": {"a": 1}}, {"x": 5}) == [("x", "added", None, "5"), ("x.a", "removed", "1", None)]
    assert table({"meta": {}}, {"meta": {}}) == [("meta", "unchanged", "{}", "{}")]


def test_scalars_at_the_top_and_awkward_keys():
    assert table("submitted", "approved") == [(ROOT, "changed", "submitted", "approved")]
    assert table({"a.b": 1, "a": {"b": 2}}, {"a.b": 1, "a": {"b": 3}}) == [
        ("a.b", "changed", "2", "3"),
        ('["a.b"]', "unchanged", "1", "1"),
    ]


def test_only_canonical_registered_amounts_are_shown_as_money():
    assert display({"amount": "1234.50", "currency": "USD"}) == DiffValue("$1,234.50", "money")
    assert display({"amount": "0.000001", "currency": "USDC"}).text == "0.000001 USDC"
    assert display({"amount": "-5", "currency": "JPY"}).kind == "money"
    assert audit_diff({"p": {"amount": "12.5", "currency": "USD"}}, None)[0].path == "p.amount"  # not canonical
    assert audit_diff({"p": {"amount": "1", "currency": "ZZZ"}}, None)[0].path == "p.amount"  # unknown currency
    extra = {"amount": "1.00", "currency": "USD", "note": "x"}
    assert [line.path for line in audit_diff(extra, None)] == ["amount", "currency", "note"]


def test_values_read_plainly():
    assert display(None) == DiffValue("null", "null")
    assert display(False) == DiffValue("false", "bool")
    assert display(12) == DiffValue("12", "number")
    assert display("0x" + "ab" * 20).kind == "id"  # a wallet address or hash
    assert display("Klamath riparian") == DiffValue("Klamath riparian", "text")
    assert display("<script>").text == "<script>"  # escaping is the template's job


def test_counts():
    lines = audit_diff({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "d": 4})
    assert diff_counts(lines) == {"added": 1, "removed": 1, "changed": 1, "unchanged": 1}
    assert all(isinstance(line, DiffLine) for line in lines)
