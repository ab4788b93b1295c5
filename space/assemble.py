"""Write a ready-to-upload Hugging Face Space: the repository's ``app.py`` with this folder's README.md (the Space's
front matter) and requirements.txt (pinned), checked for consistency.

    python space/assemble.py runs/space
    hf upload YOUR-USER/kogner-demo runs/space . --repo-type space

then set the Space variable ``KOGNER_MODEL`` to a trained model's Hub id (and ``KOGNER_MODEL_REVISION`` to the
commit to pin). ``app.py`` stays a single source in the repository root; nothing here copies it by hand.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

SPACE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SPACE_DIR.parent
FILES = {"app.py": REPO_ROOT / "app.py", "README.md": SPACE_DIR / "README.md",
         "requirements.txt": SPACE_DIR / "requirements.txt"}
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)")
# The sentence splitter the model's remote code asks for (the demo splits sentences by default).
SPLITTER = re.search(r'SPLITTER_REQUIREMENT = "([^"]+)"',
                     (REPO_ROOT / "modeling_kogner" / "text_kogner.py").read_text(encoding="utf-8")).group(1)


def front_matter(readme: str) -> dict[str, str]:
    """The ``key: value`` lines between the README's leading ``---`` fences (flat YAML, as a Space needs)."""
    lines = readme.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise ValueError("space/README.md must start with a '---' front-matter block (the Space's configuration)")
    block = lines[1 : 1 + [line.strip() for line in lines[1:]].index("---")]
    return {key.strip(): value.strip().strip('"') for key, _, value in (line.partition(":") for line in block) if key}


def pinned_requirements(text: str) -> dict[str, str]:
    """``{package: version}`` of requirements.txt; every requirement must be pinned with ``==``.

    Raises:
        ValueError: a requirement without an exact pin.
    """
    pins: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", "--")):
            continue
        match = PIN.match(line)
        if not match:
            raise ValueError(f"space/requirements.txt line {number}: {line!r} is not pinned as name==version")
        pins[match.group(1).lower()] = match.group(2)
    return pins


def check_space() -> dict[str, str]:
    """Check the Space's files agree with each other; returns the front matter.

    Raises:
        ValueError: a missing file, an unpinned requirement, or a front matter that does not match (app_file,
            sdk, sdk_version = the pinned gradio), or a sentence splitter pin other than the model code's.
    """
    for name, source in FILES.items():
        if not source.is_file():
            raise ValueError(f"{source} is missing: the Space needs {name}")
    meta = front_matter(FILES["README.md"].read_text(encoding="utf-8"))
    pins = pinned_requirements(FILES["requirements.txt"].read_text(encoding="utf-8"))
    if meta.get("sdk") != "gradio" or meta.get("app_file") != "app.py":
        raise ValueError(f"space/README.md front matter needs sdk: gradio and app_file: app.py, got {meta}")
    if meta.get("sdk_version") != pins.get("gradio"):
        raise ValueError(f"space/README.md sdk_version {meta.get('sdk_version')!r} differs from the gradio pinned in "
                         f"space/requirements.txt ({pins.get('gradio')!r})")
    for package in ("torch", "transformers"):
        if package not in pins:
            raise ValueError(f"space/requirements.txt must pin {package} (the model's remote code imports it)")
    name, version = SPLITTER.split("==")
    if pins.get(name) != version:
        raise ValueError(f"space/requirements.txt must pin {SPLITTER} (the demo splits sentences by default), "
                         f"got {pins.get(name)!r}")
    return meta


def assemble(target: Path) -> list[Path]:
    """Check the files, then write them into ``target`` (created; files of the same names replaced)."""
    check_space()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source in FILES.items():
        shutil.copyfile(source, target / name)
        written.append(target / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path, help="folder to write the Space into (e.g. runs/space)")
    args = parser.parse_args(argv)
    try:
        written = assemble(args.target)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    print("wrote " + ", ".join(str(path) for path in written))
    print(f"upload: hf upload YOUR-USER/kogner-demo {args.target} . --repo-type space")
    return 0


if __name__ == "__main__":
    sys.exit(main())
