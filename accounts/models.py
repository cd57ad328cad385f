"""The custom user model and its two roles."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A Skylark user. Operators are staff (or superusers); everyone else is a viewer."""

    @property
    def is_operator(self) -> bool:
        return self.is_staff or self.is_superuser

    @property
    def role(self) -> str:
        return "operator" if self.is_operator else "viewer"
