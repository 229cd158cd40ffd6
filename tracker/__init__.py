"""samvid.tracker: mask propagation through video.

A library with no Flask or Label Studio imports, used by the backend, by
workers and by the command line.
"""
