from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete


def _delete_snapshot_file(sender, instance, **kwargs) -> None:
    """An alert's snapshot goes with it (camera deletion, retention, admin), once the delete commits."""
    if instance.snapshot:
        name, storage = instance.snapshot.name, instance.snapshot.storage
        transaction.on_commit(lambda: storage.delete(name))


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        post_delete.connect(
            _delete_snapshot_file, sender="alerts.Alert", dispatch_uid="alert-snapshot-file"
        )
