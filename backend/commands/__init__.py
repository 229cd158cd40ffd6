"""One module per ``samvid`` command; see ``samvid.cli``."""
