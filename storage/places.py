"""Place names storage treats specially, in a module of their own: the config loads them as
defaults without importing the database and clustering code."""

from __future__ import annotations

__all__ = ["DEFAULT_GENERIC_PLACES"]

#: Places that alone never make two reports one event: Haiti, its ten departments and the
#: capital, which reports name for the whole metropolitan area.
DEFAULT_GENERIC_PLACES: tuple[str, ...] = (
    "Haïti",
    "Ayiti",
    "Port-au-Prince",
    "Pòtoprens",
    "Artibonite",
    "Centre",
    "Grand'Anse",
    "Nippes",
    "Nord",
    "Nord-Est",
    "Nord-Ouest",
    "Ouest",
    "Sud",
    "Sud-Est",
)
