"""setup.cfg lists every package of the source tree, so `pip install .` ships all of them."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    on_disk = set()
    for top, name in (("rekog_compat", "rekog_compat"), ("sdk", "rekog_sdk")):
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top)
            on_disk.add(".".join([name, *relative.parts]))
    assert listed == on_disk
