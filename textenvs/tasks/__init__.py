"""One module per task (``translation``, ``summarization``, ``dialogue``): its :class:`~textenvs.tasks.base.TaskSpec`
and its single and vector environment classes. Kept import-free so data loaders can use ``tasks.base`` alone."""
