"""The commit-time position sequencing and the append-only guard of the outbox (payor/events/sql/outbox.sql)."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [
        migrations.RunSQL(
            (SQL / "outbox.sql").read_text(),
            reverse_sql=(
                "DROP TRIGGER IF EXISTS events_outbox_append_only ON events_outboxevent;"
                "DROP TRIGGER IF EXISTS events_outbox_sequence ON events_outboxevent;"
                "DROP FUNCTION IF EXISTS events_outbox_append_only();"
                "DROP FUNCTION IF EXISTS events_outbox_sequence();"
                "DROP SEQUENCE IF EXISTS events_outbox_position_seq;"
            ),
        ),
    ]
