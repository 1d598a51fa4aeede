"""The staff console: server-rendered pages with htmx fragments, under /console/."""
