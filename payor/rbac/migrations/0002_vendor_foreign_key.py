"""``ProjectRoleAssignment.vendor_id`` becomes a foreign key to ``vendors.Vendor`` (same column, ``vendor_id``).

The state swaps the plain ``vendor_id`` UUID field for a ``vendor`` foreign key, whose column is the same
``vendor_id``; the database keeps the column and its data and gains the foreign-key constraint and index, made by
the schema editor exactly as an ``AlterField`` would. Rows naming a vendor that does not exist (possible before
vendors existed) stop the migration with an IntegrityError naming the constraint.
"""

import django.db.models.deletion
from django.db import migrations, models


def _fields(apps):
    model = apps.get_model("rbac", "ProjectRoleAssignment")
    old = models.UUIDField(null=True, blank=True)
    old.set_attributes_from_name("vendor_id")
    old.model = model
    return model, old, model._meta.get_field("vendor")


def add_constraint(apps, schema_editor):
    model, old, new = _fields(apps)
    schema_editor.alter_field(model, old, new)


def drop_constraint(apps, schema_editor):
    model, old, new = _fields(apps)
    schema_editor.alter_field(model, new, old)


class Migration(migrations.Migration):
    dependencies = [
        ("rbac", "0001_initial"),
        ("vendors", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="projectroleassignment", name="vendor_id"),
                migrations.AddField(
                    model_name="projectroleassignment",
                    name="vendor",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="role_assignments",
                        to="vendors.vendor",
                    ),
                ),
            ],
        ),
        migrations.RunPython(add_constraint, drop_constraint, elidable=False),
    ]
