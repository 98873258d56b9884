from tests.signaling.conftest import live  # noqa: F401  (re-exported fixture)
