"""Enable wamd's sandbox fixtures (``wamd_sandbox``, ``wamd_client_factory``) for the tests
of this folder. In your project, put this line in the top-level ``conftest.py``."""

pytest_plugins = ["wamd.sandbox.testing"]
