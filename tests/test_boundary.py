"""The library knows nothing of the app: it never imports streamlit and names no page."""

import ast
import subprocess
import sys
from pathlib import Path

import appkit

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "normlab").rglob("*.py"))


def test_importing_every_library_module_never_loads_streamlit():
    code = ("import importlib, pkgutil, sys, normlab\n"
            "for module in pkgutil.walk_packages(normlab.__path__, 'normlab.'):\n"
            "    if module.name != 'normlab.__main__':\n"
            "        importlib.import_module(module.name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_no_library_source_imports_streamlit():
    offenders = [str(path.relative_to(ROOT)) for path in LIBRARY
                 if any(isinstance(node, (ast.Import, ast.ImportFrom))
                        and any("streamlit" in (name.name if isinstance(node, ast.Import)
                                                else node.module or "")
                                for name in node.names)
                        for node in ast.walk(ast.parse(path.read_text())))]
    assert offenders == []


def test_the_library_names_no_page_path_or_page_title():
    titles = {lesson.title for lessons in appkit.SECTIONS.values() for lesson in lessons}
    paths = {lesson.path for lessons in appkit.SECTIONS.values() for lesson in lessons}
    found = []
    for path in LIBRARY:
        text = path.read_text()
        found += [(path.name, page) for page in paths if page in text or "pages/" in text]
        strings = {node.value.strip() for node in ast.walk(ast.parse(text))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        found += [(path.name, title) for title in titles & strings]
    assert found == []
