"""Deliberately broken implementations: the differential run must fail every one of them."""
