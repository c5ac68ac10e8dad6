"""Live MNIST tests. A package, so its conftest is ``training.conftest`` and never shadows the
shared ``conftest`` that ``from conftest import open_app`` means."""
