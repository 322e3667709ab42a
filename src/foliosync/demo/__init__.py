"""A demo data set written for foliosync: three brokers and a year of activity, so a newcomer sees
the product populated (`foliosync demo`, or the button on the empty portfolio page)."""

from foliosync.demo.loader import DemoSummary, is_demo, load_demo, remove_demo

__all__ = ["DemoSummary", "is_demo", "load_demo", "remove_demo"]
