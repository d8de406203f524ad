"""The experiment catalog: list, query and load the results files below a folder.

ibsim's results files carry their complete config, so a folder of them is a
database of experiments. :class:`Catalog` scans a folder tree and answers the
questions the seed framework asked its MongoDB store (``eval_tools``):

    from ibsim import Catalog
    catalog = Catalog("results")
    catalog.table()                                  # one row per results file
    relu = catalog.find(activation_fn="relu")        # by config value
    tanh = catalog.find(name="tanh")                 # by name (regular expression)
    keys = catalog.differing_keys()                  # config keys that differ
    [entry.describe(*keys) for entry in catalog]     # "relu_a: activation_fn=relu"
    catalog.load()                                   # all files along "experiment"

``ibsim ls FOLDER`` prints the table (:mod:`ibsim.catalog.cli`); see
``docs/catalog.md``.
"""
from ibsim.catalog.catalog import DEFAULT_VARIABLES, Catalog
from ibsim.catalog.entry import Entry
from ibsim.catalog.query import format_config
from ibsim.catalog.table import DEFAULT_KEYS

__all__ = ["Catalog", "DEFAULT_KEYS", "DEFAULT_VARIABLES", "Entry", "format_config"]
