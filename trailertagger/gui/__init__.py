"""The PySide6 desktop front end over the Qt-free core.

* ``bridge``: the one object that owns the worker pool and folder watcher, turns core job
  events into Qt signals on the GUI thread, and runs short interactive work off the GUI
  thread (``run_task(func, callback)``, Picard's pattern).
* ``library_model``: Qt item models over the core's read-only queries (lazy pages, so a
  library of 100,000 videos opens as fast as one of 10).
* ``detail``: the selected video: thumbnail, 21 genres with probabilities, corrections.
* ``main_window``: menus, filters, folders, status bar; ``app.run_app`` starts it all.

Nothing in ``trailertagger.core`` imports this package; the CLI imports it lazily.
"""
