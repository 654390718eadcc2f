"""Test-wide setting: the app's run cache (normlab.runcache) goes to a throwaway folder."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def run_cache_folder(tmp_path_factory):
    """Runs the app saves during tests land here, not in ~/.cache/normlab."""
    folder = tmp_path_factory.mktemp("normlab-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NORMLAB_CACHE_DIR", str(folder))
        yield folder
