"""The report: renders an ``Analysis`` as HTML (jinja2) and Markdown; computes nothing."""
