"""The Docker image, checked without a Docker engine (there is none on the CI machine).

The Dockerfile's instructions are read; the files its COPY lines take are laid out in a
folder as they would be in /app; its `normlab precompute` runs there; then `streamlit run` is
started in that folder, and every page is opened over Streamlit's websocket protocol: a file
the app needs but the image lacks fails here, not in front of a class.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import ROOT, WsSession, nav_pages, streamlit_server

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comment lines dropped first (as Docker does, also
    inside a continued instruction), then continuation lines joined."""
    lines = [line for line in DOCKERFILE.read_text().splitlines()
             if not line.lstrip().startswith("#")]
    found = []
    for line in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines():
        line = line.strip()
        if line:
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def copies() -> list[tuple[list[str], str]]:
    return [(parts[:-1], parts[-1]) for word, rest in instructions() if word == "COPY"
            for parts in [shlex.split(rest)]]


def lay_out_image(into: Path) -> Path:
    """The files the image's COPY lines put in WORKDIR, laid out under `into`."""
    for sources, destination in copies():
        for source in sources:
            target = into / destination / Path(source).name if destination.endswith("/") \
                else into / destination
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)
    return into


def test_the_dockerfile_is_fit_for_a_class_server():
    steps = instructions()
    words = [word for word, _ in steps]
    values = dict(steps)
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim", values["FROM"])
    assert "OMP_NUM_THREADS=1" in " ".join(rest for word, rest in steps if word == "ENV")
    installs = [rest for word, rest in steps if word == "RUN" and "pip install" in rest]
    assert installs and all("download.pytorch.org/whl/cpu" in rest for rest in installs)
    user = values["USER"]
    assert user not in ("root", "0") and words.index("USER") < words.index("CMD")
    precompute = [i for i, (word, rest) in enumerate(steps)
                  if word == "RUN" and "normlab precompute" in rest]
    assert precompute and precompute[0] > words.index("USER"), "the cache belongs to the app"
    assert "/_stcore/health" in values["HEALTHCHECK"]
    for sources, _ in copies():
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and "tests" in ignored


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = lay_out_image(tmp_path_factory.mktemp("image") / "app")
    done = subprocess.run([sys.executable, "-m", "normlab", "precompute", "--out",
                           str(folder / "cache")], cwd=folder, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def test_the_images_files_alone_serve_every_page_and_replay_the_first_run(image_folder):
    """Every page opens without an exception box or "page not found"; the live lab's first
    Train replays what precompute trained at build time."""
    env = {"NORMLAB_CACHE_DIR": str(image_folder / "cache"), "OMP_NUM_THREADS": "1"}

    async def visit(url: str) -> tuple[dict[str, list[str]], list[str]]:
        problems = {}
        for page in nav_pages():
            session = await WsSession(url, page.url_path).open(timeout_s=120)
            problems[page.name] = session.problems
            await session.close()
        lab = await WsSession(url, "live_lab").open(timeout_s=120)
        texts = []

        def look(element) -> None:
            kind = element.WhichOneof("type")
            if kind in ("alert", "markdown"):
                texts.append(getattr(element, kind).body)

        if "train" in lab.buttons:
            await lab.press("train", timeout_s=120, look=look)
        await lab.close()
        return problems, texts + lab.problems

    with streamlit_server(image_folder / "server.log", env, cwd=image_folder) as server:
        problems, texts = asyncio.run(visit(server.url))
        log = server.log_tail(10**6)
    config = image_folder / ".streamlit" / "config.toml"  # the public-demo settings
    assert config.exists() and config.read_text() == (ROOT / ".streamlit/config.toml").read_text()
    assert problems.keys() == {page.name for page in nav_pages()}
    assert not any(problems.values()), problems
    assert any(text.startswith("Finished 300 steps") for text in texts), texts
    assert any("Replayed at once" in text for text in texts), texts
    assert "Traceback" not in log, log
