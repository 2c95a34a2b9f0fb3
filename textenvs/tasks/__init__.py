"""One module per task (``translation``, ``summarization``, ``dialogue``, ``multiturn_dialogue``): its single and
vector environment classes, whose docstrings are the manual; every task's :class:`~textenvs.tasks.base.TaskSpec` is
in the one table ``specs.py``. Kept import-free so data loaders can use ``tasks.base`` alone."""
