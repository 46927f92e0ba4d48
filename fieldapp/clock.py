"""The community's clock as the status queries need it: today, the UTC offset and zone, the default cycle and the
contact settings (data/status.contact_params binds them)."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from fieldapp import rules
from fieldapp.data import settings


def clock(db):
    """Today and the time zone as the status queries need them, plus the default cycle, the attempts that make a
    household unreachable and whether phone calls count for households visited weekly."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    offset = int(datetime.now(tz).utcoffset().total_seconds() // 60)
    return {"today": rules.today(tz).isoformat(), "offset": f"{offset:+d} minutes",
            "timezone": current_app.config["TIMEZONE"], **settings.cycle_settings(db)}
