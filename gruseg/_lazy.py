"""Lazy exports (PEP 562) for a package's ``__init__``: one table, so ``__all__`` and the loader agree.

``import gruseg`` must stay instant and import neither Keras nor TensorFlow; a name is imported
from its module the first time it is touched, then cached in the package's namespace.
"""

from __future__ import annotations

from importlib import import_module

__all__ = ["lazy_exports"]


def lazy_exports(package: str, namespace: dict, exports: dict):
    """Build ``(__all__, __getattr__, __dir__)`` for ``package`` from ``{module: [names]}``.

    Args:
        package: the package's ``__name__`` (modules are ``f"{package}.{module}"``).
        namespace: the package's ``globals()`` (loaded names are cached there).
        exports: module name (relative to ``package``) -> the public names it defines.

    Returns:
        ``(names, getattr_function, dir_function)`` to assign to ``__all__``, ``__getattr__``
        and ``__dir__``.
    """
    name_to_module = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        module = name_to_module.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(name_to_module))

    return list(name_to_module), __getattr__, __dir__
