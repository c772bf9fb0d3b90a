"""Integrations with the outside world (OpenWater pushback, payment processors).

Models arrive with those features; the app is registered now so its migrations,
admin and tasks have a home.
"""
