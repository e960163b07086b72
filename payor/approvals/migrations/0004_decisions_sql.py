"""The append-only guard on approval decisions (payor/approvals/sql/decisions.sql)."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql" / "decisions.sql"


class Migration(migrations.Migration):
    dependencies = [("approvals", "0003_decisions")]

    operations = [
        migrations.RunSQL(
            SQL.read_text(),
            reverse_sql=(
                "DROP TRIGGER IF EXISTS approvals_decision_append_only ON approvals_approvaldecision;"
                "DROP FUNCTION IF EXISTS approvals_decision_append_only();"
            ),
        ),
    ]
