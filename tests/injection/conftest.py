from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - the shared demo world
