"""The posting function, the transfer sequence and the append-only guards (payor/ledger/sql/)."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql"


def read(name: str) -> str:
    return (SQL / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS ledger_transfer_seq CACHE 64;"
            "ALTER TABLE ledger_transfer ALTER COLUMN seq SET DEFAULT nextval('ledger_transfer_seq');",
            reverse_sql="ALTER TABLE ledger_transfer ALTER COLUMN seq DROP DEFAULT; DROP SEQUENCE ledger_transfer_seq;",
        ),
        migrations.RunSQL(
            read("ledger_post.sql"),
            reverse_sql="DROP FUNCTION IF EXISTS ledger_post(jsonb); DROP TYPE IF EXISTS ledger_transfer_input;",
        ),
        migrations.RunSQL(
            read("storage.sql"),
            reverse_sql="ALTER TABLE ledger_account RESET (fillfactor, autovacuum_vacuum_scale_factor);",
        ),
        migrations.RunSQL(
            read("guards.sql"),
            reverse_sql=(
                "DROP TRIGGER IF EXISTS ledger_transfer_append_only ON ledger_transfer;"
                "DROP TRIGGER IF EXISTS ledger_account_balance_guard ON ledger_account;"
                "DROP TRIGGER IF EXISTS ledger_account_starts_empty ON ledger_account;"
                "DROP TRIGGER IF EXISTS ledger_account_no_delete ON ledger_account;"
                "DROP FUNCTION IF EXISTS ledger_transfer_append_only();"
                "DROP FUNCTION IF EXISTS ledger_account_balance_guard();"
                "DROP FUNCTION IF EXISTS ledger_account_starts_empty();"
            ),
        ),
    ]
