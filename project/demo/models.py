from django.db import models


class Write(models.Model):
    """One row per unit of work the demo acknowledges, so tests can count what was stored."""

    kind = models.CharField(max_length=40)
    token = models.CharField(max_length=100, db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind}:{self.token}"
