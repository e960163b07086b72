"""The append-only guard on audit events (payor/audit/sql/guards.sql)."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql"


def read(name: str) -> str:
    return (SQL / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunSQL(
            read("guards.sql"),
            reverse_sql=(
                "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;"
                "DROP FUNCTION IF EXISTS audit_event_append_only();"
            ),
        ),
    ]
