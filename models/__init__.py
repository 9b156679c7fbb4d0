"""Model variants. Every module here is imported so that its ``@register_model`` runs."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
