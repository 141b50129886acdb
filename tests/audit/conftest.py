import pytest


@pytest.fixture(autouse=True)
def archive_dir(settings, tmp_path):
    """Each test's audit segments go to its own directory, never to var/."""
    directory = tmp_path / "audit-archive"
    settings.STORAGES = {
        **settings.STORAGES,
        "audit_archive": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": directory}},
    }
    return directory
