"""Live MNIST: real training with optviz's optimizers on Ray, metrics streamed into SQLite.

``data`` (the ``Dataset`` type; MNIST from three sources), ``datasets`` (``DATASETS``: MNIST,
Fashion-MNIST, CIFAR-10), ``models`` (the paper's networks, ``MODELS``), ``config`` (one run's
frozen config and limits), ``loop`` (the pure training loop), ``store`` (SQLite run history),
``cluster`` (Ray worker and the collector) and ``figures`` (pure Plotly builders). Nothing here
imports Streamlit; ``cluster`` is the only module that imports Ray.
"""
