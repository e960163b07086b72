"""Checks Django cannot declare: bands in their matrix's currency, and well-formed stage JSON."""

from django.db import migrations

# Every stage: an object with an approver role (not VENDOR/AUDITOR/BENEFICIARY) and whole numbers
# 1 <= signers_required <= signers_of <= 100; between 1 and 5 stages (one per approver role).
STAGES_VALID = (
    "$.type() == \"array\" && $.size() >= 1 && $.size() <= 5 && !exists($[*] ? (!("
    "@.type() == \"object\" && @.role.type() == \"string\""
    " && @.role like_regex \"^(PROJECT_MANAGER|FINANCE_REVIEWER|TREASURER|DAO_MULTISIG|PROCUREMENT)$\""
    " && @.signers_required.type() == \"number\" && @.signers_of.type() == \"number\""
    " && @.signers_required.floor() == @.signers_required && @.signers_of.floor() == @.signers_of"
    " && @.signers_required >= 1 && @.signers_of >= @.signers_required && @.signers_of <= 100)))"
)


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE approvals_approvalband ADD CONSTRAINT approvals_band_matrix_currency_fk "
            "FOREIGN KEY (matrix_id, currency) REFERENCES approvals_approvalmatrix (id, currency) "
            "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;",
            reverse_sql="ALTER TABLE approvals_approvalband DROP CONSTRAINT approvals_band_matrix_currency_fk;",
        ),
        migrations.RunSQL(
            "ALTER TABLE approvals_approvalband ADD CONSTRAINT approvals_band_stages_valid "
            f"CHECK (jsonb_path_match(stages, '{STAGES_VALID}'));",
            reverse_sql="ALTER TABLE approvals_approvalband DROP CONSTRAINT approvals_band_stages_valid;",
        ),
    ]
