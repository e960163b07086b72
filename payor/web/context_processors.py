from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def payor(request: HttpRequest) -> dict[str, Any]:
    return {"PAYOR_VERSION": settings.VERSION, "PAYOR_ENV": settings.PAYOR_ENV}
