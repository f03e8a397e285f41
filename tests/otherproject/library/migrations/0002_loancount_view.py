from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE VIEW library_loancount AS SELECT member_id, count(*)::int AS loans FROM library_loan GROUP BY member_id",
            "DROP VIEW library_loancount",
        )
    ]
