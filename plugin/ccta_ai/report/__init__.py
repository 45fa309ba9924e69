"""The report: its words per language (strings), its content, and its PDF layout."""
