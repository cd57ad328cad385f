from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete


def _delete_photo_file(sender, instance, **kwargs) -> None:
    """A face sample's photo goes with it (the sample or its person deleted), once that commits."""
    if instance.photo:
        name, storage = instance.photo.name, instance.photo.storage
        transaction.on_commit(lambda: storage.delete(name))


class PeopleConfig(AppConfig):
    name = "people"
    verbose_name = "People"

    def ready(self) -> None:
        post_delete.connect(
            _delete_photo_file, sender="people.FaceSample", dispatch_uid="face-sample-photo-file"
        )
