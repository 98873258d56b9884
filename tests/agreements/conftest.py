from tests.signaling.conftest import live, live_terminal  # noqa: F401  (re-exported fixtures)
