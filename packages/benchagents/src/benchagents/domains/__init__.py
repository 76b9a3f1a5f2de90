"""The built-in domains, by name."""

from __future__ import annotations

from collections.abc import Callable

from benchagents.domains.base import Domain, Verdict


def _calendar() -> Domain:
    from benchagents.domains.calendar.domain import CalendarDomain

    return CalendarDomain()


def _text() -> Domain:
    from benchagents.domains.text.domain import TextDomain

    return TextDomain()


DOMAINS: dict[str, Callable[[], Domain]] = {"calendar": _calendar, "text": _text}


def get_domain(name: str) -> Domain:
    """A fresh domain by name; ValueError listing the known names otherwise."""
    try:
        factory = DOMAINS[name]
    except KeyError:
        raise ValueError(f"unknown domain {name!r}; known: {', '.join(sorted(DOMAINS))}") from None
    return factory()


__all__ = ["DOMAINS", "Domain", "Verdict", "get_domain"]
