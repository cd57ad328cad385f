"""`manage.py prune_alerts [--days N] [--dry-run]`: delete old alerts and their snapshot files."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from alerts.services import prune_alerts


class Command(BaseCommand):
    help = "Delete alerts older than ALERT_RETENTION_DAYS (or --days) with their snapshots."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="age in days (default: ALERT_RETENTION_DAYS)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="only count what would be deleted"
        )

    def handle(self, *args, days: int | None, dry_run: bool, **options) -> None:
        days = settings.ALERT_RETENTION_DAYS if days is None else days
        if days < 0:
            self.stderr.write("--days must be 0 or more")
            raise SystemExit(2)
        result = prune_alerts(older_than_days=days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {result.alerts} alert(s) and {result.files} snapshot file(s) older than {days} day(s)"
        )
