"""The one way the staff UI writes dates and times (Django's format module for English,
named by ``FORMAT_MODULE_PATH``): a day as 2026-01-15, a moment as 2026-01-15 14:05 in
the association's time zone (``TIME_ZONE``). Templates write ``{{ day|date }}`` and
``{{ moment|date:"DATETIME_FORMAT" }}``; Python (CSV files) uses ``core.dates``."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "m-d"
YEAR_MONTH_FORMAT = "Y-m"
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
FIRST_DAY_OF_WEEK = 0
