from django.conf import settings


def portal(request):
    return {"aspora_mode": settings.ASPORA_MODE}
