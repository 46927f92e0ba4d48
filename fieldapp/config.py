"""The app's settings: every one with its default and type, and the FIELDAPP_* variables that override them."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every setting, its default and its type; FIELDAPP_<NAME> in the environment overrides it.
DEFAULTS = {
    "DATABASE": str(ROOT / "instance" / "fieldapp.db"),
    "SECRET_KEY": "",
    "TILES": "none",  # tianditu | gaode | osm | none
    "TIANDITU_KEY": "",
    "TIMEZONE": "Asia/Shanghai",
    "LOCATION_MAX_DISTANCE_M": 150,
    "LOCATION_MAX_ACCURACY_M": 100,
    "AMEND_HOURS": 24,
    "CSRF_HOURS": 12,  # a member may keep a form open through a long morning of visits
    "BEHIND_PROXY": False,
    "PHOTOS": str(ROOT / "instance" / "photos"),  # the photo store's folder (fieldapp/photostore.py)
    "REMIND_BACKOFF_SECONDS": 2,  # a robot's retries wait 2, then 4 seconds
}


def from_environment():
    """Read FIELDAPP_* variables, cast to the type of each default."""
    found = {}
    for name, default in DEFAULTS.items():
        raw = os.environ.get(f"FIELDAPP_{name}")
        if raw is None:
            continue
        if isinstance(default, bool):
            found[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            found[name] = int(raw)
        else:
            found[name] = raw
    return found
