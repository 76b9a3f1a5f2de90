"""The calendar scheduling domain: the domain (`domain`), its exact solver (`solver`), answer
parsing (`answer`), BA-Calendar rows both ways (`ba_calendar`) and BA-Calendar's published
metric (`ba_calendar_reference`)."""
