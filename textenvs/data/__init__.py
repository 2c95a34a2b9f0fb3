"""Datasets: the :class:`~textenvs.data.dataset.TextDataset` type, loaders for user data, the built-in generated
datasets and the built-in tokenizer."""
