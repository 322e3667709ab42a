"""The web UI: server-rendered pages (Jinja2), one stylesheet, a little vanilla JavaScript and
server-side SVG charts. `foliosync.web.pages.router` is included by foliosync.app."""
